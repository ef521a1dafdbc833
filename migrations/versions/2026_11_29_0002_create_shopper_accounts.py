"""Create shopper accounts and their refresh tokens (rotation families).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("display_name", sa.String(length=50), nullable=True),
        sa.Column("gender", sa.String(length=8), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("locale", sa.String(length=2), server_default="ko", nullable=False),
        sa.Column("line_user_id", sa.String(length=64), nullable=True),
        sa.Column("instagram_id", sa.String(length=64), nullable=True),
        sa.Column("talktalk_id", sa.String(length=64), nullable=True),
        sa.Column("preferred_messenger", sa.String(length=16), nullable=True),
        sa.Column("consent_alimtalk", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("consent_line", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("consent_instagram", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("consent_talktalk", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("consent_sms", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("status", sa.String(length=8), server_default="active", nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("erased_at", DateTimeUTC(timezone=True), nullable=True),
        sa.CheckConstraint("gender IN ('female', 'male', 'other')", name=op.f("ck_users_gender_known")),
        sa.CheckConstraint("locale IN ('ko', 'ja', 'en')", name=op.f("ck_users_locale_known")),
        sa.CheckConstraint(
            "preferred_messenger IN ('alimtalk', 'line', 'instagram', 'talktalk', 'sms')",
            name=op.f("ck_users_messenger_known"),
        ),
        sa.CheckConstraint("status IN ('active', 'erased')", name=op.f("ck_users_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("line_user_id", name=op.f("uq_users_line_user_id")),
        sa.UniqueConstraint("phone", name=op.f("uq_users_phone")),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("used_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("revoked_at", DateTimeUTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_refresh_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"], unique=False)
    op.create_index(op.f("ix_refresh_tokens_user_id"), "refresh_tokens", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_refresh_tokens_user_id"), table_name="refresh_tokens")
    op.drop_index("ix_refresh_tokens_family_id", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_table("users")
