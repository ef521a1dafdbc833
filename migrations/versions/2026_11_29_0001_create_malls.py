"""Create malls: the partner shops whose products Shoa gathers.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "malls",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=2000), server_default="", nullable=False),
        sa.Column("logo_url", sa.String(length=2048), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("status IN ('active', 'paused', 'closed')", name=op.f("ck_malls_status_known")),
        sa.CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'", name=op.f("ck_malls_slug_format")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_malls")),
        sa.UniqueConstraint("slug", name=op.f("uq_malls_slug")),
    )
    op.create_index(
        "ix_malls_listed_name_id",
        "malls",
        ["name", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'active'"),
    )


def downgrade() -> None:
    op.drop_index("ix_malls_listed_name_id", table_name="malls", postgresql_where=sa.text("status = 'active'"))
    op.drop_table("malls")
