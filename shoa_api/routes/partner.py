"""The partner API, for malls' own servers. Every route needs a mall API key; some need a scope."""

from __future__ import annotations

import uuid

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency

from catalog.keys import PartnerIdentity
from shoa_api.auth import require_partner_key


class PartnerKeyInfo(msgspec.Struct, kw_only=True):
    mall_id: uuid.UUID
    mall_slug: str
    key_id: uuid.UUID
    scopes: list[str]


class PartnerController(Controller):
    path = "/partner/v1"
    tags = ["partner"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [require_partner_key]  # noqa: RUF012

    @get("/me", operation_id="partner_me", summary="Which mall this key belongs to, and what it may do")
    async def me(self, partner: NamedDependency[PartnerIdentity]) -> PartnerKeyInfo:
        return PartnerKeyInfo(
            mall_id=partner.mall_id,
            mall_slug=partner.mall_slug,
            key_id=partner.key_id,
            scopes=sorted(partner.scopes),
        )
