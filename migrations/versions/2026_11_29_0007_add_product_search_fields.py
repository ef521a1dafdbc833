"""Add products' search fields (terms, colours, sizes, prices, stock, popularity) and their pg_trgm index.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from catalog.search.text import index_terms

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.add_column("products", sa.Column("search_name", sa.Text(), server_default="", nullable=False))
    op.add_column("products", sa.Column("search_text", sa.Text(), server_default="", nullable=False))
    op.add_column(
        "products",
        sa.Column("colors", postgresql.ARRAY(sa.String(length=40)), server_default="{}", nullable=False),
    )
    op.add_column(
        "products",
        sa.Column("sizes", postgresql.ARRAY(sa.String(length=20)), server_default="{}", nullable=False),
    )
    op.add_column("products", sa.Column("price_min", sa.BigInteger(), server_default="0", nullable=False))
    op.add_column("products", sa.Column("price_from", sa.BigInteger(), server_default="0", nullable=False))
    op.add_column("products", sa.Column("currency", sa.String(length=3), server_default="KRW", nullable=False))
    op.add_column("products", sa.Column("in_stock", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("products", sa.Column("popularity", sa.Double(), server_default="0", nullable=False))
    _backfill()
    op.create_index(
        "ix_products_search_text",
        "products",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
        postgresql_where=sa.text("status <> 'hidden'"),
    )


def _backfill() -> None:
    """Products written before this revision get their fields from their variants and text."""
    op.execute(
        """
        UPDATE products p SET
            colors = v.colors, sizes = v.sizes, price_min = v.price_min, price_from = v.price_from,
            currency = v.currency, in_stock = v.in_stock
        FROM (
            SELECT product_id,
                   coalesce(array_agg(DISTINCT color) FILTER (WHERE color IS NOT NULL), '{}') AS colors,
                   coalesce(array_agg(DISTINCT size) FILTER (WHERE size IS NOT NULL), '{}') AS sizes,
                   min(price) AS price_min, min(coalesce(sale_price, price)) AS price_from,
                   min(currency) AS currency, bool_or(stock > 0) AS in_stock
            FROM variants GROUP BY product_id
        ) v
        WHERE p.id = v.product_id
        """
    )
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, name, category_path, style_tags, colors FROM products")).all()
    if rows:
        connection.execute(
            sa.text("UPDATE products SET search_name = :search_name, search_text = :search_text WHERE id = :id"),
            [
                {
                    "id": row.id,
                    "search_name": index_terms(row.name),
                    "search_text": index_terms(
                        row.name, row.category_path.replace("/", " "), *row.style_tags, *row.colors
                    ),
                }
                for row in rows
            ],
        )


def downgrade() -> None:
    op.drop_index(
        "ix_products_search_text",
        table_name="products",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
        postgresql_where=sa.text("status <> 'hidden'"),
    )
    for column in (
        "popularity", "in_stock", "currency", "price_from", "price_min", "sizes", "colors", "search_text",
        "search_name",
    ):  # fmt: skip
        op.drop_column("products", column)
