"""Providers' calls to us: delivery reports of messages, verified as each provider documents it."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from notify import service
from notify.delivery import Providers
from notify.errors import ProviderNotFoundError, UnverifiedReceiptError
from notify.schemas import ReceiptsApplied
from notify.service import Outbox
from shoa_api.openapi import problems
from shoa_kernel.clock import utc_now


@post(
    "/webhooks/messaging/{provider:str}",
    operation_id="receive_message_receipts",
    summary="A messaging provider's delivery report (NHN Cloud, Solapi, Instagram, the sandbox)",
    description="The body is the provider's own report, signed as the provider documents; it is read raw.",
    status_code=200,
    tags=["webhooks"],
    responses=problems(
        ProviderNotFoundError("no messaging provider called 'kakao' is configured here"),
        UnverifiedReceiptError("X-Toast-Webhook-Signature is missing or does not match"),
    ),
)
async def receive_message_receipts(
    request: Request[Any, Any, Any],
    provider: FromPath[str],
    db: NamedDependency[AsyncSession],
    messaging: NamedDependency[Providers],
    outbox: NamedDependency[Outbox],
) -> ReceiptsApplied:
    return await service.receive_receipts(
        db,
        messaging.named(provider),
        headers=request.headers,
        body=await request.body(),
        templates=outbox.templates,
        now=utc_now(),
    )
