"""Create products, their variants, and the search outbox.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_outbox")),
    )
    op.create_index(op.f("ix_search_outbox_product_id"), "search_outbox", ["product_id"], unique=False)
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("mall_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=5000), server_default="", nullable=False),
        sa.Column("category_path", sa.String(length=100), nullable=False),
        sa.Column("style_tags", sa.ARRAY(sa.String(length=20)), server_default="{}", nullable=False),
        sa.Column("target_gender", sa.String(length=8), nullable=False),
        sa.Column("target_age_bands", sa.ARRAY(sa.String(length=12)), server_default="{}", nullable=False),
        sa.Column("image_urls", sa.ARRAY(sa.String(length=2048)), nullable=False),
        sa.Column("exclusive", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("source_updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('on_sale', 'sold_out', 'hidden')", name=op.f("ck_products_status_known")),
        sa.CheckConstraint(
            "target_gender IN ('female', 'male', 'unisex')", name=op.f("ck_products_target_gender_known")
        ),
        sa.ForeignKeyConstraint(["mall_id"], ["malls.id"], name=op.f("fk_products_mall_id_malls"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("mall_id", "external_id", name=op.f("uq_products_mall_id")),
    )
    op.create_index("ix_products_mall_id_id", "products", ["mall_id", "id"], unique=False)
    op.create_table(
        "variants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("mall_id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("color", sa.String(length=40), nullable=True),
        sa.Column("size", sa.String(length=20), nullable=True),
        sa.Column("options", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("sale_price", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("price > 0", name=op.f("ck_variants_price_positive")),
        sa.CheckConstraint(
            "sale_price IS NULL OR (sale_price > 0 AND sale_price <= price)", name=op.f("ck_variants_sale_price_valid")
        ),
        sa.CheckConstraint("stock >= 0", name=op.f("ck_variants_stock_not_negative")),
        sa.ForeignKeyConstraint(["mall_id"], ["malls.id"], name=op.f("fk_variants_mall_id_malls"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_variants_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_variants")),
        sa.UniqueConstraint("mall_id", "sku", name=op.f("uq_variants_mall_id")),
    )
    op.create_index(op.f("ix_variants_product_id"), "variants", ["product_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_variants_product_id"), table_name="variants")
    op.drop_table("variants")
    op.drop_index("ix_products_mall_id_id", table_name="products")
    op.drop_table("products")
    op.drop_index(op.f("ix_search_outbox_product_id"), table_name="search_outbox")
    op.drop_table("search_outbox")
