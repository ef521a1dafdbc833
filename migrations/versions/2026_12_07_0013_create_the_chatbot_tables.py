"""Create the chatbot's turns and inquiries, the messengers' reply windows, and what a chat answer carries.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notify_messages", sa.Column("chat", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column(
        "notify_sandbox_messages",
        sa.Column(
            "quick_replies",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.create_table(
        "notify_chat_windows",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("last_inbound_at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "address", name=op.f("pk_notify_chat_windows")),
    )
    op.create_table(
        "support_turns",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat_user", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("mall_order_id", sa.Uuid(), nullable=True),
        sa.Column("mall_id", sa.Uuid(), nullable=True),
        sa.Column("utterance", sa.String(length=1000), nullable=False),
        sa.Column("intent", sa.String(length=20), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column(
            "actions", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_turns")),
        sa.UniqueConstraint("channel", "event_id", name="uq_support_turns_channel_event_id"),
    )
    op.create_index("ix_support_turns_chat_user", "support_turns", ["channel", "chat_user", "id"])
    op.create_index(op.f("ix_support_turns_mall_order_id"), "support_turns", ["mall_order_id"])
    op.create_index(op.f("ix_support_turns_mall_id"), "support_turns", ["mall_id"])
    op.create_table(
        "support_inquiries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mall_id", sa.Uuid(), nullable=True),
        sa.Column("mall_order_id", sa.Uuid(), nullable=True),
        sa.Column("order_number", sa.String(length=20), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("chat_user", sa.String(length=128), nullable=False),
        sa.Column("locale", sa.String(length=2), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("transcript", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("closed_at", DateTimeUTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["mall_id"], ["malls.id"], name=op.f("fk_support_inquiries_mall_id_malls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["mall_order_id"],
            ["mall_orders.id"],
            name=op.f("fk_support_inquiries_mall_order_id_mall_orders"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_inquiries")),
    )
    op.create_index("ix_support_inquiries_mall_status", "support_inquiries", ["mall_id", "status", "id"])
    op.create_table(
        "support_inquiry_replies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("inquiry_id", sa.Uuid(), nullable=False),
        sa.Column("author", sa.String(length=8), nullable=False),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("shown_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inquiry_id"],
            ["support_inquiries.id"],
            name=op.f("fk_support_inquiry_replies_inquiry_id_support_inquiries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_inquiry_replies")),
        sa.UniqueConstraint("inquiry_id", "idempotency_key", name="uq_support_inquiry_replies_key"),
    )
    op.create_index(op.f("ix_support_inquiry_replies_inquiry_id"), "support_inquiry_replies", ["inquiry_id"])


def downgrade() -> None:
    op.drop_table("support_inquiry_replies")
    op.drop_table("support_inquiries")
    op.drop_table("support_turns")
    op.drop_table("notify_chat_windows")
    op.drop_column("notify_sandbox_messages", "quick_replies")
    op.drop_column("notify_messages", "chat")
