"""The partner API's customer-service side: the inquiries the chatbot handed to a mall, answered and closed.

A mall sees only inquiries about its own mall-orders (others answer 404, as missing ones do). Reading takes the
``orders:read`` scope, replying and closing ``orders:write``: customer service is part of handling orders, and
every key a mall already has for its orders works here.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.keys import PartnerIdentity
from catalog.models import Mall
from notify.service import Outbox
from shoa_api.auth import require_partner_key
from shoa_api.openapi import problems
from shoa_api.pagination import Cursor, Limit
from shoa_kernel.clock import utc_now
from support import service
from support.errors import InquiryClosedError, InquiryNotFoundError, InvalidCursorError, ReplyKeyReusedError
from support.schemas import InquiryOut, InquiryPage, ReplyIn

_NOT_FOUND = InquiryNotFoundError("there is no inquiry with this id for you")
StatusFilter = Annotated[
    Literal["open", "answered", "closed"] | None, QueryParameter(description="Only inquiries in this state")
]
ReplyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=100,
        description="Optional: the same key and text again send nothing more and answer with the first reply; "
        "the same key with another text is refused (422).",
    ),
]


class PartnerInquiryController(Controller):
    path = "/partner/v1/inquiries"
    tags = ["partner"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [require_partner_key]  # noqa: RUF012

    @get(
        "/",
        operation_id="partner_list_inquiries",
        summary="The chatbot's hand-offs to my mall, newest first, each with its conversation",
        opt={"scope": "orders:read"},
        responses=problems(InvalidCursorError("cursor is not one this API gave out; start again without it")),
    )
    async def list_inquiries(
        self,
        db_read: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        status: StatusFilter = None,
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> InquiryPage:
        after = service.read_cursor(cursor) if cursor is not None else None
        return await service.inquiries(db_read, mall_id=partner.mall_id, status=status, after=after, limit=limit)

    @get(
        "/{inquiry_id:uuid}",
        operation_id="partner_get_inquiry",
        summary="One inquiry with its conversation and replies",
        opt={"scope": "orders:read"},
        responses=problems(_NOT_FOUND),
    )
    async def get_inquiry(
        self,
        db_read: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        inquiry_id: FromPath[uuid.UUID],
    ) -> InquiryOut:
        return await service.inquiry(db_read, inquiry_id, mall_id=partner.mall_id)

    @post(
        "/{inquiry_id:uuid}/replies",
        operation_id="partner_reply_to_inquiry",
        summary="Answer the shopper: the reply reaches them on the messenger they asked on",
        opt={"scope": "orders:write"},
        status_code=HTTP_200_OK,
        responses=problems(
            _NOT_FOUND,
            InquiryClosedError("this inquiry is closed; a closed inquiry takes no more replies"),
            ReplyKeyReusedError("this Idempotency-Key was used for another reply to this inquiry"),
        ),
    )
    async def reply(
        self,
        *,
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        outbox: NamedDependency[Outbox],
        inquiry_id: FromPath[uuid.UUID],
        data: JSONBody[ReplyIn],
        idempotency_key: ReplyKey = None,
    ) -> InquiryOut:
        mall_name = await db.get(Mall, partner.mall_id)
        sender = mall_name.name if mall_name is not None else "Shoa"
        answered, _ = await service.reply(
            db,
            outbox,
            inquiry_id=inquiry_id,
            mall_id=partner.mall_id,
            sender=sender,
            text=data.text,
            idempotency_key=idempotency_key,
            now=utc_now(),
        )
        return answered

    @post(
        "/{inquiry_id:uuid}/close",
        operation_id="partner_close_inquiry",
        summary="Close an inquiry (closing a closed one changes nothing)",
        opt={"scope": "orders:write"},
        status_code=HTTP_200_OK,
        responses=problems(_NOT_FOUND),
    )
    async def close(
        self,
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        inquiry_id: FromPath[uuid.UUID],
    ) -> InquiryOut:
        return await service.close(db, inquiry_id, mall_id=partner.mall_id, now=utc_now())
