"""Partner catalog sync: a batch of products upserted item by item, idempotently, in bulk statements.

Per item the answer is ``created``, ``updated``, ``unchanged`` (the same content again, or ``stale``: the stored
product has a newer ``source_updated_at``) or ``rejected`` with field problems. A mall's batches run one at a
time (a transaction-scoped advisory lock on the mall), so two concurrent batches never race on a product or
a SKU. Variants keep their ids across updates (matched by SKU), because carts and orders point at them.
Every created or updated product leaves a search-outbox row in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import msgspec
import sqlalchemy as sa
import uuid_utils
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from uuid_utils.compat import uuid7

from catalog.models import Product, SearchOutbox, Variant
from catalog.product_rules import external_id_of, parse_item
from catalog.schemas import BatchResult, FieldProblem, ItemResult, ProductIn, VariantIn
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    import datetime
    import uuid
    from collections.abc import AsyncIterator, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

_hash_encoder = msgspec.json.Encoder(order="sorted")


@dataclass
class _Stored:
    id: uuid.UUID
    source_updated_at: datetime.datetime
    content_hash: str


async def upsert_products(
    session: AsyncSession,
    *,
    mall_id: uuid.UUID,
    items: Sequence[msgspec.Raw | ProductIn],
    now: datetime.datetime | None = None,
) -> BatchResult:
    """Upsert a batch's items: raw JSON, or products its decoder already made (they are still checked)."""
    await lock_mall_catalog(session, mall_id)
    results: dict[int, ItemResult] = {}
    parsed = _parse_batch(items, results, now=now or utc_now())
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


def _parse_batch(
    items: Sequence[msgspec.Raw | ProductIn], results: dict[int, ItemResult], *, now: datetime.datetime
) -> dict[int, ProductIn]:
    """Each item parsed and checked on its own; the second mention of a product in one batch is refused."""
    parsed: dict[int, ProductIn] = {}
    seen: dict[str, int] = {}
    for index, raw in enumerate(items):
        item = parse_item(raw, now=now)
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
    # One probe of the (mall_id, external_id) index per product, whatever the statistics say. Left to itself the
    # planner may read every product of the mall through the (mall_id, id) index instead, whenever it believes the
    # mall small (a growing mall before the next ANALYZE), and a batch then costs as much as the whole catalog.
    wanted = sa.func.unnest(_text_array(external_ids)).table_valued("external_id").render_derived("wanted")
    stored = (
        sa.select(_products.c.id, _products.c.source_updated_at, _products.c.content_hash)
        .where(_products.c.mall_id == mall_id, _products.c.external_id == wanted.c.external_id)
        .limit(1)
        .lateral("stored")
    )
    rows = await session.execute(
        sa.select(wanted.c.external_id, stored.c.id, stored.c.source_updated_at, stored.c.content_hash).select_from(
            wanted.join(stored, sa.true())
        )
    )
    return {row.external_id: _Stored(row.id, row.source_updated_at, row.content_hash) for row in rows}


async def _sku_owners(session: AsyncSession, mall_id: uuid.UUID, skus: list[str]) -> dict[str, str]:
    if not skus:
        return {}
    # The owner's external_id by a subquery, which PostgreSQL runs as one primary-key probe per SKU found; as a
    # join, the planner may hash it against a scan of every mall's products.
    owner = sa.select(_products.c.external_id).where(_products.c.id == _variants.c.product_id).scalar_subquery()
    rows = await session.execute(
        sa.select(_variants.c.sku, owner.label("external_id")).where(
            _variants.c.mall_id == mall_id, _variants.c.sku == sa.any_(_text_array(skus))
        )
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
        await _insert_new(session, mall_id=mall_id, creates=creates)
    if updates:
        await _update_stored(session, mall_id=mall_id, updates=updates)
    if changed := creates + updates:
        created_at = utc_now()
        async with _copy_pipeline(session) as pipeline:
            await pipeline.send(_outbox, _OUTBOX_COLUMNS, [(pid, "upsert", created_at) for pid, _, _ in changed])


async def _insert_new(
    session: AsyncSession, *, mall_id: uuid.UUID, creates: list[tuple[uuid.UUID, ProductIn, str]]
) -> None:
    """New products cannot collide with anything (the mall's catalog is locked and every SKU was checked), so they
    and their variants go in by COPY, the fastest way into PostgreSQL, in chunks: PostgreSQL takes in one chunk
    while the next one's rows are built."""
    async with _copy_pipeline(session) as pipeline:
        for start in range(0, len(creates), _COPY_CHUNK):
            chunk = creates[start : start + _COPY_CHUNK]
            products = [(pid, mall_id, item.external_id, *_product_values(item, h)) for pid, item, h in chunk]
            await pipeline.send(_products, _PRODUCT_COLUMNS, products)
            variants = [
                _variant_record(pid, mall_id, position, v)
                for pid, item, _ in chunk
                for position, v in enumerate(item.variants)
            ]
            await pipeline.send(_variants, _VARIANT_COLUMNS, variants)


async def _update_stored(
    session: AsyncSession, *, mall_id: uuid.UUID, updates: list[tuple[uuid.UUID, ProductIn, str]]
) -> None:
    """Four statements whatever the batch's size, each given its rows as one JSON document."""
    updated = [product_id for product_id, _, _ in updates]
    await lock_variants_of(session, _products.c.id == sa.any_(sa.bindparam("locked", updated, ARRAY(sa.Uuid))))
    changed = _rows_table(
        "changed",
        _products,
        ("id", *_UPDATED_COLUMNS),
        [(product_id, *_product_values(item, h)) for product_id, item, h in updates],
    )
    await session.execute(
        sa.update(_products)
        .where(_products.c.id == changed.c.id)
        .values({name: changed.c[name] for name in _UPDATED_COLUMNS} | {"updated_at": sa.func.now()})
    )
    # Variants the mall no longer sends go; the others are matched by SKU below and keep their ids. (Every SKU of
    # the batch belongs to the item that sends it or to no product yet, so the batch's SKUs are the ones to keep;
    # NOT IN a subquery is looked up in a hash table, where <> ALL would compare with every SKU in turn.)
    sent_skus = _text_array([v.sku for _, item, _ in updates for v in item.variants])
    await session.execute(
        sa.delete(_variants).where(
            _variants.c.product_id == sa.any_(sa.bindparam("updated", updated, ARRAY(sa.Uuid))),
            _variants.c.sku.not_in(sa.select(sa.func.unnest(sent_skus))),
        )
    )
    # Updated products' variants: matched by SKU, so existing ones keep their ids; new SKUs are added.
    sent = _rows_table(
        "sent",
        _variants,
        _VARIANT_COLUMNS,
        [
            _variant_record(pid, mall_id, position, v, for_json=True)
            for pid, item, _ in updates
            for position, v in enumerate(item.variants)
        ],
    )
    statement = pg_insert(_variants).from_select(
        _VARIANT_COLUMNS, sa.select(*(sent.c[name] for name in _VARIANT_COLUMNS))
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[_variants.c.mall_id, _variants.c.sku],
            set_={name: statement.excluded[name] for name in _VARIANT_UPSERT_COLUMNS},
        )
    )


def _rows_table(name: str, table: sa.Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> sa.TableValuedAlias:
    """``rows`` as a table for one statement: sent as one JSON parameter, typed back into ``table``'s columns."""
    document = msgspec.json.encode([dict(zip(columns, row, strict=True)) for row in rows]).decode()
    return (
        sa.func.jsonb_to_recordset(sa.cast(sa.bindparam(name, document, type_=sa.Text), JSONB))
        .table_valued(*(sa.column(column, table.c[column].type) for column in columns))
        .render_derived(name, with_types=True)
    )


_products, _variants, _outbox = (cast("sa.Table", model.__table__) for model in (Product, Variant, SearchOutbox))
_DERIVED_COLUMNS = ("colors", "sizes", "price_min", "price_from", "currency", "in_stock")
"""The fields (``models.Product``) the sync derives from the variants, in the order of :func:`_derived_values`."""
_UPDATED_COLUMNS = (
    "name", "description", "category_path", "style_tags", "target_gender", "target_age_bands", "image_urls",
    "exclusive", "status", "source_updated_at", "content_hash", *_DERIVED_COLUMNS,
)  # fmt: skip
"""A product's columns that a sync sets, in the order of :func:`_product_values`."""
_PRODUCT_COLUMNS = ("id", "mall_id", "external_id", *_UPDATED_COLUMNS)
_VARIANT_COLUMNS = (
    "id", "product_id", "mall_id", "sku", "color", "size", "options", "price", "sale_price", "currency", "stock",
    "position",
)  # fmt: skip
_VARIANT_UPSERT_COLUMNS = (
    "product_id", "color", "size", "options", "price", "sale_price", "currency", "stock", "position",
)  # fmt: skip
_OUTBOX_COLUMNS = ("product_id", "action", "created_at")


_COPY_CHUNK = 125
"""Products per COPY: PostgreSQL takes in one chunk while the next is built; smaller ones gain no more."""


class _CopyPipeline:
    """COPYs on the session's connection, one at a time, each sent off without waiting for PostgreSQL to take it
    in: meanwhile the caller builds the next rows on its CPU while PostgreSQL works on the last ones on its own."""

    def __init__(self, driver: Any) -> None:
        self._driver = driver
        self._pending: asyncio.Task[str] | None = None

    async def send(self, table: sa.Table, columns: Sequence[str], records: list[tuple[Any, ...]]) -> None:
        await self.finish()
        if records:
            self._pending = asyncio.create_task(
                self._driver.copy_records_to_table(table.name, records=records, columns=columns)
            )
            await asyncio.sleep(0)  # the task encodes the rows and sends them off, then waits for PostgreSQL

    async def finish(self) -> None:
        """Wait for the last COPY to be taken in; raise its error if it failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending


@contextlib.asynccontextmanager
async def _copy_pipeline(session: AsyncSession) -> AsyncIterator[_CopyPipeline]:
    """A COPY pipeline on the session's own connection, so its rows are part of the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    pipeline = _CopyPipeline(raw.driver_connection)
    try:
        yield pipeline
    except BaseException:
        with contextlib.suppress(Exception):  # the error raised is the one to report
            await pipeline.finish()  # the connection must be idle again before the session rolls back
        raise
    await pipeline.finish()


def _product_values(item: ProductIn, content_hash: str) -> tuple[Any, ...]:
    return (
        item.name,
        item.description,
        item.category_path,
        item.style_tags,
        item.target_gender,
        item.target_age_bands,
        item.image_urls,
        item.exclusive,
        item.status,
        item.source_updated_at,
        content_hash,
        *_derived_values(item),
    )


def _variant_record(
    product_id: uuid.UUID, mall_id: uuid.UUID, position: int, variant: VariantIn, *, for_json: bool = False
) -> tuple[Any, ...]:
    """A variant's row, with a new id, for COPY or (``for_json``) for a JSON document."""
    return (
        # uuid_utils' own UUID is made 7x faster than the standard library's; asyncpg only reads its bytes.
        str(uuid_utils.uuid7()) if for_json else uuid_utils.uuid7(),
        product_id,
        mall_id,
        variant.sku,
        variant.color,
        variant.size,
        # asyncpg takes jsonb as text, in COPY as in statements; a JSON document takes the object itself.
        variant.options if for_json else msgspec.json.encode(variant.options).decode(),
        variant.price,
        variant.sale_price,
        variant.currency,
        variant.stock,
        position,
    )


def _derived_values(item: ProductIn) -> tuple[list[str], list[str], int, int, str, bool]:
    """The product's fields for search and lists without a join: its colours, sizes, lowest regular and paid
    prices, currency, and whether it can be bought: on sale, with a variant in stock (a mall's ``sold_out`` wins
    over any stock count)."""
    variants = item.variants
    return (
        list(dict.fromkeys(v.color for v in variants if v.color)),
        list(dict.fromkeys(v.size for v in variants if v.size)),
        min(v.price for v in variants),
        min(v.price if v.sale_price is None else v.sale_price for v in variants),
        variants[0].currency,
        item.status == "on_sale" and any(v.stock > 0 for v in variants),
    )


def _rejected(index: int, external_id: str | None, problems: list[FieldProblem]) -> ItemResult:
    return ItemResult(index=index, external_id=external_id, result="rejected", reason="invalid fields", errors=problems)


def _text_array(values: list[str]) -> sa.BindParameter[Any]:
    """One array parameter instead of an IN list of hundreds: one statement shape, planned once and cached."""
    text_array: Any = ARRAY(sa.String())
    return sa.bindparam("values", values, type_=text_array)


async def lock_mall_catalog(session: AsyncSession, mall_id: uuid.UUID) -> None:
    """Serialise a mall's catalog writes until the transaction ends: no two of its batches race on a SKU."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_key(mall_id))))


async def lock_variants_of(session: AsyncSession, products: sa.ColumnElement[bool]) -> None:
    """Lock the variants of the products ``products`` selects, in id order, before those products are written.

    A checkout locks its variants in id order, then writes their products when it sells a last unit (or a cancel
    gives one back): ``in_stock`` follows. An edit that wrote a product before its variants would hold the row
    such a checkout waits for while waiting for the variant it holds, and PostgreSQL would end one of them as a
    deadlock; locking the variants first, in the same order, makes them queue instead."""
    await session.execute(
        sa.select(_variants.c.id)
        .join(_products, _products.c.id == _variants.c.product_id)
        .where(products)
        .order_by(_variants.c.id)
        .with_for_update(of=_variants)
    )


def _lock_key(mall_id: uuid.UUID) -> int:
    """A signed 64-bit advisory-lock key for the mall's catalog writes."""
    return int.from_bytes(hashlib.sha256(b"catalog-sync:" + mall_id.bytes).digest()[:8], "big", signed=True)
