"""Add products' search fields (terms, colours, sizes, prices, stock, popularity) and their pg_trgm index.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

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


# --- The search text of 2026-11-29 ---------------------------------------------------------------------------
# ``catalog.search.text.index_terms`` as it was when this revision was written, copied so that the revision
# backfills the same text whatever that module becomes: a migration is a snapshot, and imports no application code.

_CJK_RANGES = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
)


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def _is_word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNM"


def _normalize(text: str) -> str:
    """Lower case, compatibility forms folded, accents off Latin letters."""
    folded = []
    for char in text:
        decomposed = unicodedata.normalize("NFKD", char)
        kept = "".join(part for part in decomposed if not 0x0300 <= ord(part) < 0x0370)
        folded.append(unicodedata.normalize("NFC", kept).lower())
    return "".join(folded)


def _words(text: str) -> list[tuple[str, bool]]:
    """(word, is CJK): runs of letters and digits, cut where the script changes between CJK and the rest."""
    found: list[tuple[str, bool]] = []
    current: list[str] = []
    current_cjk = False
    for char in _normalize(text):
        if not _is_word_char(char):
            if current:
                found.append(("".join(current), current_cjk))
                current = []
            continue
        cjk = _is_cjk(char)
        if current and cjk != current_cjk:
            found.append(("".join(current), current_cjk))
            current = []
        current.append(char)
        current_cjk = cjk
    if current:
        found.append(("".join(current), current_cjk))
    return found


def index_terms(*texts: str) -> str:
    """Space-separated terms with a space on each side; every suffix of a CJK run is a term of its own."""
    terms: list[str] = []
    for text in texts:
        for word, cjk in _words(text):
            if cjk:
                terms.extend(word[start:] for start in range(len(word)))
            else:
                terms.append(word)
    return f" {' '.join(dict.fromkeys(terms))} "
