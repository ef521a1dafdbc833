"""Drop what only the PostgreSQL search engine needed: the products' search terms, the rows' transaction stamps
and their triggers, the tombstones and their sequence, and the pg_trgm extension (its trigram index went in
0009). Search now runs on Tantivy or Meilisearch, fed by the search outbox.

The downgrade puts the structures back with empty search terms: the older release's ``shoa search reindex``
fills them in.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TRIGGER products_search_truncated ON products")
    op.execute("DROP TRIGGER products_search_tombstone ON products")
    for table in ("products", "malls"):
        op.execute(f"DROP TRIGGER {table}_search_stamp ON {table}")
    op.execute("DROP FUNCTION catalog_search_tombstone()")
    op.execute("DROP FUNCTION catalog_search_stamp()")
    op.drop_index(op.f("ix_search_tombstones_search_xid"), table_name="search_tombstones")
    op.drop_table("search_tombstones")
    op.drop_index("ix_products_search_xid", table_name="products")
    for table in ("products", "malls"):
        op.drop_column(table, "search_seq")
        op.drop_column(table, "search_xid")
    op.execute("DROP SEQUENCE catalog_search_seq")
    op.drop_column("products", "search_text")
    op.drop_column("products", "search_name")
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")


# Revisions 0007 and 0009 as they created these, for the downgrade.
_STAMP = """
CREATE FUNCTION catalog_search_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_xid := pg_current_xact_id()::text::bigint;
    NEW.search_seq := nextval('catalog_search_seq');
    RETURN NEW;
END
$$
"""
_TOMBSTONE = """
CREATE FUNCTION catalog_search_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gone uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        gone := OLD.id;
    END IF;
    INSERT INTO search_tombstones (product_id, search_xid, search_seq)
    VALUES (gone, pg_current_xact_id()::text::bigint, nextval('catalog_search_seq'));
    RETURN NULL;
END
$$
"""


def downgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.add_column("products", sa.Column("search_name", sa.Text(), server_default="", nullable=False))
    op.add_column("products", sa.Column("search_text", sa.Text(), server_default="", nullable=False))
    op.execute("CREATE SEQUENCE catalog_search_seq")
    for table in ("products", "malls"):
        op.add_column(table, sa.Column("search_xid", sa.BigInteger(), server_default="0", nullable=False))
        op.add_column(table, sa.Column("search_seq", sa.BigInteger(), server_default="0", nullable=False))
    op.create_index("ix_products_search_xid", "products", ["search_xid"], unique=False)
    op.create_table(
        "search_tombstones",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("search_xid", sa.BigInteger(), nullable=False),
        sa.Column("search_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_tombstones")),
    )
    op.create_index(op.f("ix_search_tombstones_search_xid"), "search_tombstones", ["search_xid"], unique=False)
    op.execute(_STAMP)
    op.execute(_TOMBSTONE)
    for table in ("products", "malls"):
        op.execute(
            f"CREATE TRIGGER {table}_search_stamp BEFORE INSERT OR UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION catalog_search_stamp()"
        )
    op.execute(
        "CREATE TRIGGER products_search_tombstone AFTER DELETE ON products "
        "FOR EACH ROW EXECUTE FUNCTION catalog_search_tombstone()"
    )
    op.execute(
        "CREATE TRIGGER products_search_truncated AFTER TRUNCATE ON products "
        "FOR EACH STATEMENT EXECUTE FUNCTION catalog_search_tombstone()"
    )
