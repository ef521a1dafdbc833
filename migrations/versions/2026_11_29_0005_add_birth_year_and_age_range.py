"""Add birth year and age range to users, for social logins that share no full birth date.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("birth_year", sa.SmallInteger(), nullable=True))
    op.add_column("users", sa.Column("age_range", sa.String(length=8), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "age_range")
    op.drop_column("users", "birth_year")
