"""The partner API, for malls' own servers. Every route needs a mall API key; some need a scope."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, patch, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import adjustments, service
from catalog.errors import InvalidBatchError, InvalidCursorError, InvalidProductChangeError, ProductNotFoundError
from catalog.keys import PartnerIdentity
from catalog.schemas import BatchResult, PartnerProductPage, ProductPatch, StockBatch, StockBatchResult
from shoa_api.auth import require_partner_key
from shoa_api.caching import catalog_changed
from shoa_api.mirror import RedisMirror
from shoa_api.openapi import ProductBatch, problems
from shoa_api.pagination import Cursor, Limit
from shoa_api.settings import Settings


class PartnerKeyInfo(msgspec.Struct, kw_only=True):
    mall_id: uuid.UUID
    mall_slug: str
    key_id: uuid.UUID
    scopes: list[str]


class ProductChange(msgspec.Struct, kw_only=True, omit_defaults=True):
    product_id: uuid.UUID
    result: Literal["updated", "unchanged"]
    reason: str | None = None


class PartnerController(Controller):
    path = "/partner/v1"
    tags = ["partner"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [require_partner_key]  # noqa: RUF012

    @put(
        "/products",
        operation_id="sync_products",
        summary="Create or update up to 500 products; every item gets its own result",
        description="Each product is created, updated, left unchanged (the same content, or an older "
        "`source_updated_at` than the stored one) or rejected with its field problems; the others are saved all the "
        "same. Sending the batch again changes nothing. See `GET /v1/catalog/vocabulary` for the lists fields use.",
        opt={"scope": "catalog:write", "json_body": True, "large_body": True, "body": ProductBatch},
        responses=problems(InvalidBatchError("a batch holds at most 500 products; this one has 620")),
    )
    async def sync_products(
        self,
        request: Request[Any, Any, Any],
        *,
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        settings: NamedDependency[Settings],
        redis: NamedDependency[Redis],
        mirror: NamedDependency[RedisMirror],
    ) -> BatchResult:
        body = await request.body()
        result = await service.sync_products(
            db, mall_id=partner.mall_id, body=body, max_items=settings.catalog.max_batch_items
        )
        if result.created or result.updated:
            await _committed_catalog_change(db, redis, mirror)
        return result

    @get(
        "/products",
        operation_id="list_partner_products",
        summary="This mall's products, a page at a time",
        responses=problems(InvalidCursorError("cursor is not one this API gave out; start again without it")),
    )
    async def list_products(
        self,
        db_read: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> PartnerProductPage:
        return await service.list_partner_products(db_read, mall_id=partner.mall_id, cursor=cursor, limit=limit)

    @patch(
        "/products/{external_id:str}",
        operation_id="patch_partner_product",
        responses=problems(
            ProductNotFoundError("this mall has no product D0000002"),
            InvalidProductChangeError("variants[0].sku: D0000002-99 is not a variant of D0000002"),
        ),
        summary="Change the price, stock or status of one product or some of its variants",
        opt={"scope": "catalog:write"},
    )
    async def patch_product(
        self,
        external_id: FromPath[str],
        data: JSONBody[ProductPatch],
        *,
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        redis: NamedDependency[Redis],
        mirror: NamedDependency[RedisMirror],
    ) -> ProductChange:
        product_id, changed = await adjustments.patch_product(
            db, mall_id=partner.mall_id, external_id=external_id, patch=data
        )
        if changed:
            await _committed_catalog_change(db, redis, mirror)
            return ProductChange(product_id=product_id, result="updated")
        return ProductChange(product_id=product_id, result="unchanged", reason="stale: the stored product is newer")

    @delete(
        "/products/{external_id:str}",
        operation_id="delete_partner_product",
        responses=problems(ProductNotFoundError("this mall has no product D0000002")),
        summary="Hide a product from shoppers at once and take it out of search",
        opt={"scope": "catalog:write"},
        status_code=HTTP_204_NO_CONTENT,
    )
    async def delete_product(
        self,
        external_id: FromPath[str],
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        redis: NamedDependency[Redis],
        mirror: NamedDependency[RedisMirror],
    ) -> None:
        await adjustments.delete_product(db, mall_id=partner.mall_id, external_id=external_id)
        await _committed_catalog_change(db, redis, mirror)

    @put(
        "/stock",
        operation_id="update_partner_stock",
        summary="Stock and prices of up to 1,000 variants by SKU",
        opt={"scope": "catalog:write"},
    )
    async def update_stock(
        self,
        data: JSONBody[StockBatch],
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        redis: NamedDependency[Redis],
        mirror: NamedDependency[RedisMirror],
    ) -> StockBatchResult:
        result = await adjustments.update_stock(db, mall_id=partner.mall_id, items=data.items)
        if result.updated:
            await _committed_catalog_change(db, redis, mirror)
        return result

    @get("/me", operation_id="partner_me", summary="Which mall this key belongs to, and what it may do")
    async def me(self, partner: NamedDependency[PartnerIdentity]) -> PartnerKeyInfo:
        return PartnerKeyInfo(
            mall_id=partner.mall_id,
            mall_slug=partner.mall_slug,
            key_id=partner.key_id,
            scopes=sorted(partner.scopes),
        )


async def _committed_catalog_change(db: AsyncSession, redis: Redis, mirror: RedisMirror) -> None:
    """Commit now, then tell every process's public cache: shoppers never again get an answer read before the
    change (a product hidden or sold out, a price, a new product)."""
    await db.commit()
    await catalog_changed(redis, mirror)
