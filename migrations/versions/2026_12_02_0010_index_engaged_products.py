"""Index the products shoppers engage with (popularity above 0), with their popularity.

The worker's roll-up compares everyone's scores with the popularity stored on the products once a minute; this
index lets it read the stored values of the engaged products alone (an index-only scan) instead of the whole
products table.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_products_engaged",
        "products",
        ["id"],
        unique=False,
        postgresql_include=["popularity"],
        postgresql_where=sa.text("popularity <> 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_products_engaged", table_name="products")
