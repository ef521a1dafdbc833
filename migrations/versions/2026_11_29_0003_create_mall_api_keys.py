"""Create mall API keys: hashed, scoped, revocable, rotatable partner credentials.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mall_api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mall_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("display_prefix", sa.String(length=24), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_used_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("revoked_at", DateTimeUTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["mall_id"], ["malls.id"], name=op.f("fk_mall_api_keys_mall_id_malls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mall_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_mall_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_mall_api_keys_mall_id"), "mall_api_keys", ["mall_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_mall_api_keys_mall_id"), table_name="mall_api_keys")
    op.drop_table("mall_api_keys")
