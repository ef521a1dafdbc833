"""Partner catalog sync: a batch of products upserted item by item, idempotently, in bulk statements.

Per item the answer is ``created``, ``updated``, ``unchanged`` (the same content again, or ``stale``: the stored
product has a newer ``source_updated_at``) or ``rejected`` with field problems. A mall's batches run one at a
time (a transaction-scoped advisory lock on the mall), so two concurrent batches never race on a product or
a SKU. Variants keep their ids across updates (matched by SKU), because carts and orders point at them.
Every created or updated product leaves a search-outbox row in the same transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from uuid_utils.compat import uuid7

from catalog.models import Product, SearchOutbox, Variant
from catalog.product_rules import external_id_of, parse_item
from catalog.schemas import BatchResult, FieldProblem, ItemResult, ProductIn
from catalog.search.fields import derived_fields

if TYPE_CHECKING:
    import datetime
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

_hash_encoder = msgspec.json.Encoder(order="sorted")


@dataclass
class _Stored:
    id: uuid.UUID
    source_updated_at: datetime.datetime
    content_hash: str


async def upsert_products(session: AsyncSession, *, mall_id: uuid.UUID, items: list[msgspec.Raw]) -> BatchResult:
    await lock_mall_catalog(session, mall_id)
    results: dict[int, ItemResult] = {}
    parsed = _parse_batch(items, results)
    owners = await _sku_owners(session, mall_id, [v.sku for item in parsed.values() for v in item.variants])
    accepted = _claim_skus(parsed, owners, results)
    stored = await _stored_products(session, mall_id, [item.external_id for item in accepted.values()])
    creates: list[tuple[uuid.UUID, ProductIn, str]] = []
    updates: list[tuple[uuid.UUID, ProductIn, str]] = []
    for index, item in accepted.items():
        content_hash = hashlib.sha256(_hash_encoder.encode(item)).hexdigest()
        current = stored.get(item.external_id)
        outcome = ItemResult(index=index, external_id=item.external_id, result="created")
        if current is None:
            outcome.product_id = uuid7()
            creates.append((outcome.product_id, item, content_hash))
        elif item.source_updated_at < current.source_updated_at:
            outcome.result, outcome.product_id = "unchanged", current.id
            outcome.reason = f"stale: the stored product is from {current.source_updated_at.isoformat()}"
        elif content_hash == current.content_hash:
            outcome.result, outcome.product_id, outcome.reason = "unchanged", current.id, "same content as stored"
        else:
            outcome.result, outcome.product_id = "updated", current.id
            updates.append((current.id, item, content_hash))
        results[index] = outcome

    await _write(session, mall_id=mall_id, creates=creates, updates=updates)
    ordered = [results[index] for index in sorted(results)]
    counts = {
        kind: sum(1 for r in ordered if r.result == kind) for kind in ("created", "updated", "unchanged", "rejected")
    }
    return BatchResult(**counts, items=ordered)


def _parse_batch(items: list[msgspec.Raw], results: dict[int, ItemResult]) -> dict[int, ProductIn]:
    """Each item parsed and checked on its own; the second mention of a product in one batch is refused."""
    parsed: dict[int, ProductIn] = {}
    seen: dict[str, int] = {}
    for index, raw in enumerate(items):
        item = parse_item(raw)
        if isinstance(item, list):
            results[index] = _rejected(index, external_id_of(raw), item)
        elif (first := seen.get(item.external_id)) is not None:
            problem = FieldProblem(field="external_id", message=f"the same product as item {first} of this batch")
            results[index] = _rejected(index, item.external_id, [problem])
        else:
            seen[item.external_id] = index
            parsed[index] = item
    return parsed


def _claim_skus(
    parsed: dict[int, ProductIn], owners: dict[str, str], results: dict[int, ItemResult]
) -> dict[int, ProductIn]:
    """A SKU the mall already uses stays with its product; then items of this batch claim SKUs in order."""
    accepted: dict[int, ProductIn] = {}
    claimed: dict[str, int] = {}
    for index, item in parsed.items():
        skus = [variant.sku for variant in item.variants]
        if taken := next((sku for sku in skus if owners.get(sku, item.external_id) != item.external_id), None):
            problem = FieldProblem(field="variants", message=f"SKU {taken} belongs to your product {owners[taken]}")
            results[index] = _rejected(index, item.external_id, [problem])
        elif clash := next((sku for sku in skus if sku in claimed), None):
            problem = FieldProblem(field="variants", message=f"SKU {clash} is also in item {claimed[clash]}")
            results[index] = _rejected(index, item.external_id, [problem])
        else:
            claimed.update(dict.fromkeys(skus, index))
            accepted[index] = item
    return accepted


async def _stored_products(session: AsyncSession, mall_id: uuid.UUID, external_ids: list[str]) -> dict[str, _Stored]:
    if not external_ids:
        return {}
    rows = await session.execute(
        sa.select(Product.external_id, Product.id, Product.source_updated_at, Product.content_hash).where(
            Product.mall_id == mall_id, Product.external_id == sa.any_(_text_array(external_ids))
        )
    )
    return {row.external_id: _Stored(row.id, row.source_updated_at, row.content_hash) for row in rows}


async def _sku_owners(session: AsyncSession, mall_id: uuid.UUID, skus: list[str]) -> dict[str, str]:
    if not skus:
        return {}
    rows = await session.execute(
        sa.select(Variant.sku, Product.external_id)
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.mall_id == mall_id, Variant.sku == sa.any_(_text_array(skus)))
    )
    return {row.sku: row.external_id for row in rows}


async def _write(
    session: AsyncSession,
    *,
    mall_id: uuid.UUID,
    creates: list[tuple[uuid.UUID, ProductIn, str]],
    updates: list[tuple[uuid.UUID, ProductIn, str]],
) -> None:
    if creates:
        # New products cannot collide with anything (the mall's catalog is locked and every SKU was checked),
        # so they and their variants go in by COPY, the fastest way into PostgreSQL, inside this transaction.
        await _copy(session, _products, [_product_row(pid, mall_id, item, h) for pid, item, h in creates])
        await _copy(
            session,
            _variants,
            [
                _variant_row(pid, mall_id, position, v)
                for pid, item, _ in creates
                for position, v in enumerate(item.variants)
            ],
        )
    if updates:
        await session.execute(
            sa.update(_products)
            .where(_products.c.id == sa.bindparam("product_id"))
            .values({name: sa.bindparam(name) for name in _UPDATED_COLUMNS} | {"updated_at": sa.func.now()}),
            [{"product_id": product_id, **_product_fields(item, h)} for product_id, item, h in updates],
        )
        # Variants the mall no longer sends go; the others are matched by SKU below and keep their ids.
        kept = {(product_id, v.sku) for product_id, item, _ in updates for v in item.variants}
        await session.execute(
            sa.delete(Variant).where(
                Variant.product_id.in_([product_id for product_id, _, _ in updates]),
                sa.tuple_(Variant.product_id, Variant.sku).not_in(list(kept)),
            )
        )
    if updates:
        # Updated products' variants: matched by SKU, so existing ones keep their ids; new SKUs are added.
        statement = pg_insert(_variants)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[_variants.c.mall_id, _variants.c.sku],
                set_={name: statement.excluded[name] for name in _VARIANT_UPSERT_COLUMNS},
            ),
            [
                _variant_row(pid, mall_id, position, v)
                for pid, item, _ in updates
                for position, v in enumerate(item.variants)
            ],
        )
    changed = creates + updates
    if not changed:
        return
    await session.execute(
        sa.insert(_outbox), [{"product_id": product_id, "action": "upsert"} for product_id, _, _ in changed]
    )


_products, _variants, _outbox = (cast("sa.Table", model.__table__) for model in (Product, Variant, SearchOutbox))
_VARIANT_UPSERT_COLUMNS = (
    "product_id",
    "color",
    "size",
    "options",
    "price",
    "sale_price",
    "currency",
    "stock",
    "position",
)
_UPDATED_COLUMNS = (
    "name", "description", "category_path", "style_tags", "target_gender", "target_age_bands", "image_urls",
    "exclusive", "status", "source_updated_at", "content_hash", "search_name", "search_text", "colors", "sizes",
    "price_min", "price_from", "currency", "in_stock",
)  # fmt: skip


async def _copy(session: AsyncSession, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """COPY ``rows`` into ``table`` on the session's own connection, so it is part of its transaction."""
    if not rows:
        return
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    columns = list(rows[0])
    records = [tuple(_for_copy(row[name]) for name in columns) for row in rows]
    driver = raw.driver_connection
    assert driver is not None  # a checked-out connection always has its asyncpg connection
    await driver.copy_records_to_table(table.name, records=records, columns=columns)


def _for_copy(value: Any) -> Any:
    # asyncpg's COPY takes jsonb as text.
    return msgspec.json.encode(value).decode() if isinstance(value, dict) else value


def _product_row(product_id: uuid.UUID, mall_id: uuid.UUID, item: ProductIn, content_hash: str) -> dict[str, Any]:
    return {
        "id": product_id,
        "mall_id": mall_id,
        "external_id": item.external_id,
        **_product_fields(item, content_hash),
    }


def _product_fields(item: ProductIn, content_hash: str) -> dict[str, Any]:
    return {
        "name": item.name,
        "description": item.description,
        "category_path": item.category_path,
        "style_tags": item.style_tags,
        "target_gender": item.target_gender,
        "target_age_bands": list(item.target_age_bands),
        "image_urls": item.image_urls,
        "exclusive": item.exclusive,
        "status": item.status,
        "source_updated_at": item.source_updated_at,
        "content_hash": content_hash,
        **derived_fields(item),
    }


def _variant_row(product_id: uuid.UUID, mall_id: uuid.UUID, position: int, variant: Any) -> dict[str, Any]:
    return {
        "id": uuid7(),
        "product_id": product_id,
        "mall_id": mall_id,
        "sku": variant.sku,
        "color": variant.color,
        "size": variant.size,
        "options": variant.options,
        "price": variant.price,
        "sale_price": variant.sale_price,
        "currency": variant.currency,
        "stock": variant.stock,
        "position": position,
    }


def _rejected(index: int, external_id: str | None, problems: list[FieldProblem]) -> ItemResult:
    return ItemResult(index=index, external_id=external_id, result="rejected", reason="invalid fields", errors=problems)


def _text_array(values: list[str]) -> sa.BindParameter[Any]:
    """One array parameter instead of an IN list of hundreds: one statement shape, planned once and cached."""
    text_array: Any = ARRAY(sa.String())
    return sa.bindparam("values", values, type_=text_array)


async def lock_mall_catalog(session: AsyncSession, mall_id: uuid.UUID) -> None:
    """Serialise a mall's catalog writes until the transaction ends: no two of its batches race on a SKU."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(mall_id))))


def _lock_key(mall_id: uuid.UUID) -> int:
    """A signed 64-bit advisory-lock key for the mall's catalog writes."""
    return int.from_bytes(hashlib.sha256(b"catalog-sync:" + mall_id.bytes).digest()[:8], "big", signed=True)
