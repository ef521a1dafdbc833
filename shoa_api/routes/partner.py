"""The partner API, for malls' own servers. Every route needs a mall API key; some need a scope."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, get, put
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import service
from catalog.keys import PartnerIdentity
from catalog.schemas import BatchResult, PartnerProductPage
from shoa_api.auth import require_partner_key
from shoa_api.routes.catalog import Cursor, Limit
from shoa_api.settings import Settings


class PartnerKeyInfo(msgspec.Struct, kw_only=True):
    mall_id: uuid.UUID
    mall_slug: str
    key_id: uuid.UUID
    scopes: list[str]


class PartnerController(Controller):
    path = "/partner/v1"
    tags = ["partner"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [require_partner_key]  # noqa: RUF012

    @put(
        "/products",
        operation_id="sync_products",
        summary="Create or update up to 500 products; every item gets its own result",
        opt={"scope": "catalog:write"},
    )
    async def sync_products(
        self,
        request: Request[Any, Any, Any],
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        settings: NamedDependency[Settings],
    ) -> BatchResult:
        body = await request.body()
        return await service.sync_products(
            db, mall_id=partner.mall_id, body=body, max_items=settings.catalog.max_batch_items
        )

    @get("/products", operation_id="list_partner_products", summary="This mall's products, a page at a time")
    async def list_products(
        self,
        db_read: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> PartnerProductPage:
        return await service.list_partner_products(db_read, mall_id=partner.mall_id, cursor=cursor, limit=limit)

    @get("/me", operation_id="partner_me", summary="Which mall this key belongs to, and what it may do")
    async def me(self, partner: NamedDependency[PartnerIdentity]) -> PartnerKeyInfo:
        return PartnerKeyInfo(
            mall_id=partner.mall_id,
            mall_slug=partner.mall_slug,
            key_id=partner.key_id,
            scopes=sorted(partner.scopes),
        )
