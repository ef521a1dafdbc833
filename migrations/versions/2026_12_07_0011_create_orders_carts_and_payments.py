"""Create carts, orders with their mall-orders, lines, transitions, payments, returns and exchanges, checkout keys
and the sandbox gateway's book; give malls a shipping fee and a free-shipping threshold; number orders from a
sequence.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE order_number_seq")
    op.create_table(
        "order_sandbox_payments",
        sa.Column("payment_key", sa.String(length=200), nullable=False),
        sa.Column("order_id", sa.String(length=20), nullable=False),
        sa.Column("payment", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "idempotency",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("payment_key", name=op.f("pk_order_sandbox_payments")),
        sa.UniqueConstraint("order_id", name=op.f("uq_order_sandbox_payments_order_id")),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("payment_method", sa.String(length=16), nullable=False),
        sa.Column("items_amount", sa.BigInteger(), nullable=False),
        sa.Column("shipping_amount", sa.BigInteger(), nullable=False),
        sa.Column("total_amount", sa.BigInteger(), nullable=False),
        sa.Column("address", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            DateTimeUTC(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "payment_method IN ('card', 'virtual_account')", name=op.f("ck_orders_payment_method_known")
        ),
        sa.CheckConstraint("total_amount = items_amount + shipping_amount", name=op.f("ck_orders_total_adds_up")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_orders_user_id_users"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("number", name=op.f("uq_orders_number")),
    )
    op.create_index("ix_orders_user_id_id", "orders", ["user_id", "id"], unique=False)
    op.create_table(
        "mall_orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("mall_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("items_amount", sa.BigInteger(), nullable=False),
        sa.Column("shipping_fee", sa.BigInteger(), nullable=False),
        sa.Column("refunded_amount", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("carrier", sa.String(length=20), nullable=True),
        sa.Column("tracking_number", sa.String(length=30), nullable=True),
        sa.Column("delivered_at", DateTimeUTC(timezone=True), nullable=True),
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
        sa.CheckConstraint(
            "status IN ('awaiting_payment', 'awaiting_deposit', 'paid', 'preparing', 'shipped', 'delivered', "
            "'confirmed', 'cancelled', 'return_requested', 'returned', 'refunded', 'exchange_requested', "
            "'exchange_shipped')",
            name=op.f("ck_mall_orders_status_known"),
        ),
        sa.CheckConstraint(
            "refunded_amount BETWEEN 0 AND items_amount + shipping_fee", name=op.f("ck_mall_orders_refund_bounded")
        ),
        sa.ForeignKeyConstraint(
            ["mall_id"], ["malls.id"], name=op.f("fk_mall_orders_mall_id_malls"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_mall_orders_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mall_orders")),
    )
    op.create_index("ix_mall_orders_mall_id_id", "mall_orders", ["mall_id", "id"], unique=False)
    op.create_index("ix_mall_orders_mall_id_status_id", "mall_orders", ["mall_id", "status", "id"], unique=False)
    op.create_index(op.f("ix_mall_orders_order_id"), "mall_orders", ["order_id"], unique=False)
    op.create_table(
        "order_checkout_keys",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            DateTimeUTC(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_checkout_keys_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_order_checkout_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_order_checkout_keys")),
    )
    op.create_index(op.f("ix_order_checkout_keys_created_at"), "order_checkout_keys", ["created_at"], unique=False)
    op.create_table(
        "order_payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_amount", sa.BigInteger(), nullable=False),
        sa.Column("payment_key", sa.String(length=200), nullable=True),
        sa.Column("secret", sa.String(length=100), nullable=True),
        sa.Column("bank", sa.String(length=30), nullable=True),
        sa.Column("account_number", sa.String(length=30), nullable=True),
        sa.Column("account_holder", sa.String(length=60), nullable=True),
        sa.Column("due_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("approved_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("refund_account", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("amount_mismatch", sa.BigInteger(), nullable=True),
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
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_payments_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_payments")),
        sa.UniqueConstraint("gateway", "payment_key", name=op.f("uq_order_payments_gateway")),
        sa.UniqueConstraint("order_id", name=op.f("uq_order_payments_order_id")),
    )
    op.create_table(
        "cart_items",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.SmallInteger(), nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column(
            "added_at",
            DateTimeUTC(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("quantity BETWEEN 1 AND 99", name=op.f("ck_cart_items_quantity_range")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_cart_items_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"], ["variants.id"], name=op.f("fk_cart_items_variant_id_variants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "variant_id", name=op.f("pk_cart_items")),
    )
    op.create_table(
        "order_after_sales",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mall_order_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("refund_amount", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            DateTimeUTC(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('return', 'exchange')", name=op.f("ck_order_after_sales_kind_known")),
        sa.CheckConstraint(
            "status IN ('requested', 'received', 'refunded', 'shipped')", name=op.f("ck_order_after_sales_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["mall_order_id"],
            ["mall_orders.id"],
            name=op.f("fk_order_after_sales_mall_order_id_mall_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_after_sales")),
    )
    op.create_index(op.f("ix_order_after_sales_mall_order_id"), "order_after_sales", ["mall_order_id"], unique=False)
    op.create_table(
        "order_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mall_order_id", sa.Uuid(), nullable=False),
        sa.Column("variant_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("product_name", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("options", sa.String(length=100), server_default="", nullable=False),
        sa.Column("unit_price", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("quantity BETWEEN 1 AND 99", name=op.f("ck_order_lines_quantity_range")),
        sa.CheckConstraint("unit_price > 0", name=op.f("ck_order_lines_unit_price_positive")),
        sa.ForeignKeyConstraint(
            ["mall_order_id"],
            ["mall_orders.id"],
            name=op.f("fk_order_lines_mall_order_id_mall_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_id"], ["variants.id"], name=op.f("fk_order_lines_variant_id_variants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
    )
    op.create_index(op.f("ix_order_lines_mall_order_id"), "order_lines", ["mall_order_id"], unique=False)
    op.create_table(
        "order_payment_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("transaction_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.String(length=500), server_default="", nullable=False),
        sa.Column(
            "at",
            DateTimeUTC(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["order_payments.id"],
            name=op.f("fk_order_payment_events_payment_id_order_payments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_payment_events")),
        sa.UniqueConstraint("payment_id", "transaction_key", name=op.f("uq_order_payment_events_payment_id")),
    )
    op.create_table(
        "order_transitions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("mall_order_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=500), server_default="", nullable=False),
        sa.Column(
            "at",
            DateTimeUTC(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["mall_order_id"],
            ["mall_orders.id"],
            name=op.f("fk_order_transitions_mall_order_id_mall_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_transitions")),
    )
    op.create_index(op.f("ix_order_transitions_mall_order_id"), "order_transitions", ["mall_order_id"], unique=False)
    op.add_column("malls", sa.Column("shipping_fee", sa.Integer(), server_default="3000", nullable=False))
    op.add_column("malls", sa.Column("free_shipping_threshold", sa.Integer(), server_default="50000", nullable=True))
    op.create_check_constraint(op.f("ck_malls_shipping_fee_range"), "malls", "shipping_fee BETWEEN 0 AND 100000")
    op.create_check_constraint(
        op.f("ck_malls_threshold_positive"), "malls", "free_shipping_threshold IS NULL OR free_shipping_threshold > 0"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_malls_threshold_positive"), "malls", type_="check")
    op.drop_constraint(op.f("ck_malls_shipping_fee_range"), "malls", type_="check")
    op.drop_column("malls", "free_shipping_threshold")
    op.drop_column("malls", "shipping_fee")
    op.drop_index(op.f("ix_order_transitions_mall_order_id"), table_name="order_transitions")
    op.drop_table("order_transitions")
    op.drop_table("order_payment_events")
    op.drop_index(op.f("ix_order_lines_mall_order_id"), table_name="order_lines")
    op.drop_table("order_lines")
    op.drop_index(op.f("ix_order_after_sales_mall_order_id"), table_name="order_after_sales")
    op.drop_table("order_after_sales")
    op.drop_table("cart_items")
    op.drop_table("order_payments")
    op.drop_index(op.f("ix_order_checkout_keys_created_at"), table_name="order_checkout_keys")
    op.drop_table("order_checkout_keys")
    op.drop_index(op.f("ix_mall_orders_order_id"), table_name="mall_orders")
    op.drop_index("ix_mall_orders_mall_id_status_id", table_name="mall_orders")
    op.drop_index("ix_mall_orders_mall_id_id", table_name="mall_orders")
    op.drop_table("mall_orders")
    op.drop_index("ix_orders_user_id_id", table_name="orders")
    op.drop_table("orders")
    op.drop_table("order_sandbox_payments")
    op.execute("DROP SEQUENCE order_number_seq")
