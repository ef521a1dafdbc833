"""The PostgreSQL search follows catalog changes: rows stamped with their writing transaction, tombstones.

Every write of a product or a mall stamps the row with its transaction id (``search_xid``) and a number from
``catalog_search_seq`` (``search_seq``); deleting a product, or truncating ``products``, leaves a tombstone.
The trigram index on ``search_text`` goes: searches no longer read it, and the partner sync no longer pays for
keeping it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

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


def upgrade() -> None:
    op.drop_index("ix_products_search_text", table_name="products")
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


def downgrade() -> None:
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
    op.create_index(
        "ix_products_search_text",
        "products",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
        postgresql_where=sa.text("status <> 'hidden'"),
    )
