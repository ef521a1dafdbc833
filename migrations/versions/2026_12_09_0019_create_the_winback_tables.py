"""Create the win-back tables: restock alerts, shoppers' win-back settings, price watches, and every decision.

A decision (:class:`winback.models.Send`) is unique by its occasion, so each restock wave, price fall and cart
line is decided once however often the jobs run; the caps read a shopper's decisions by time, a mall's report
reads its own by time.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "winback_restock_alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("mall_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="waiting", nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), server_default=_now(), nullable=False),
        sa.Column("ended_at", DateTimeUTC(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('waiting', 'notified', 'cancelled')", name=op.f("ck_winback_restock_alerts_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_winback_restock_alerts_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"], ["variants.id"], name=op.f("fk_winback_restock_alerts_variant_id_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_winback_restock_alerts")),
    )  # fmt: skip
    op.create_index(
        "uq_winback_restock_alerts_waiting",
        "winback_restock_alerts",
        ["user_id", "variant_id"],
        unique=True,
        postgresql_where=sa.text("status = 'waiting'"),
    )
    op.create_index(
        "ix_winback_restock_alerts_wave",
        "winback_restock_alerts",
        ["variant_id", "id"],
        postgresql_where=sa.text("status = 'waiting'"),
    )
    op.create_index("ix_winback_restock_alerts_user_id_id", "winback_restock_alerts", ["user_id", "id"])

    op.create_table(
        "winback_preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("price_drops", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("price_drop_percent", sa.SmallInteger(), server_default="10", nullable=False),
        sa.Column("cart_reminders", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint("price_drop_percent BETWEEN 5 AND 90", name=op.f("ck_winback_preferences_percent_range")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_winback_preferences_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_winback_preferences")),
    )  # fmt: skip

    op.create_table(
        "winback_price_watches",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("reference_price", sa.BigInteger(), nullable=False),
        sa.Column("since", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_winback_price_watches_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_winback_price_watches_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "product_id", name=op.f("pk_winback_price_watches")),
    )  # fmt: skip
    op.create_index(op.f("ix_winback_price_watches_product_id"), "winback_price_watches", ["product_id"])

    op.create_table(
        "winback_sends",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("occasion", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("mall_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("variant_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=True),
        sa.Column("decided_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("sends_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("token", sa.String(length=32), nullable=True),
        sa.Column("clicked_at", DateTimeUTC(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('restock', 'price_drop', 'cart_reminder')", name=op.f("ck_winback_sends_kind_known")
        ),
        sa.CheckConstraint(
            "outcome IN ('sent', 'held_out', 'suppressed')", name=op.f("ck_winback_sends_outcome_known")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_winback_sends_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_winback_sends")),
        sa.UniqueConstraint("occasion", name=op.f("uq_winback_sends_occasion")),
        sa.UniqueConstraint("token", name=op.f("uq_winback_sends_token")),
    )  # fmt: skip
    op.create_index("ix_winback_sends_user_id_decided_at", "winback_sends", ["user_id", "decided_at"])
    op.create_index("ix_winback_sends_mall_id_decided_at", "winback_sends", ["mall_id", "decided_at"])


def downgrade() -> None:
    op.drop_table("winback_sends")
    op.drop_table("winback_price_watches")
    op.drop_table("winback_preferences")
    op.drop_table("winback_restock_alerts")
