"""Create the messaging outbox, its attempts and receipts, and the sandbox provider's store.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("locale", sa.String(length=2), nullable=False),
        sa.Column("parameters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "route", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("delivery_key", sa.String(length=240), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=True),
        sa.Column("doubted_provider", sa.String(length=16), nullable=True),
        sa.Column("next_attempt_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("claim_token", sa.Uuid(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("channel_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("channel_started_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("provider_message_id", sa.String(length=128), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            DateTimeUTC(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            DateTimeUTC(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("accepted_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("delivered_at", DateTimeUTC(timezone=True), nullable=True),
        sa.CheckConstraint(
            "channel IN ('alimtalk', 'sms', 'line', 'instagram', 'talktalk')",
            name=op.f("ck_notify_messages_channel_known"),
        ),
        sa.CheckConstraint("locale IN ('ko', 'ja', 'en')", name=op.f("ck_notify_messages_locale_known")),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'accepted', 'delivered', 'failed', 'dead', 'unreachable')",
            name=op.f("ck_notify_messages_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_messages")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notify_messages_idempotency_key")),
    )
    op.create_index(
        "ix_notify_messages_due",
        "notify_messages",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('queued', 'sending')"),
    )
    op.create_index(
        "ix_notify_messages_provider_message_id", "notify_messages", ["provider", "provider_message_id"], unique=False
    )
    op.create_index("ix_notify_messages_user_id_id", "notify_messages", ["user_id", "id"], unique=False)
    op.create_table(
        "notify_sandbox_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("delivery_key", sa.String(length=240), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("template_code", sa.String(length=40), nullable=True),
        sa.Column("sms_kind", sa.String(length=3), nullable=True),
        sa.Column(
            "buttons", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column(
            "created_at",
            DateTimeUTC(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_sandbox_messages")),
        sa.UniqueConstraint("delivery_key", name=op.f("uq_notify_sandbox_messages_delivery_key")),
    )
    op.create_table(
        "notify_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("attempted_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("delivery_key", sa.String(length=240), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("http_status", sa.SmallInteger(), nullable=True),
        sa.Column("result_code", sa.String(length=64), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=128), nullable=True),
        sa.Column("detail", sa.String(length=500), server_default="", nullable=False),
        sa.CheckConstraint(
            "channel IN ('alimtalk', 'sms', 'line', 'instagram', 'talktalk')",
            name=op.f("ck_notify_attempts_channel_known"),
        ),
        sa.CheckConstraint(
            "outcome IN ('pending', 'accepted', 'transient', 'permanent', 'unknown', 'delivered', 'undelivered')",
            name=op.f("ck_notify_attempts_outcome_known"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["notify_messages.id"],
            name=op.f("fk_notify_attempts_message_id_notify_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_attempts")),
    )
    op.create_index(op.f("ix_notify_attempts_message_id"), "notify_attempts", ["message_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_notify_attempts_message_id"), table_name="notify_attempts")
    op.drop_table("notify_attempts")
    op.drop_table("notify_sandbox_messages")
    op.drop_index("ix_notify_messages_user_id_id", table_name="notify_messages")
    op.drop_index("ix_notify_messages_provider_message_id", table_name="notify_messages")
    op.drop_index(
        "ix_notify_messages_due",
        table_name="notify_messages",
        postgresql_where=sa.text("status IN ('queued', 'sending')"),
    )
    op.drop_table("notify_messages")
