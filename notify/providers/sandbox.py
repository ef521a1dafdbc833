"""The sandbox provider: every channel, nothing leaves the machine. The default in ``make run`` and the tests.

It keeps what it would have sent (quick replies too) in its own table, listed at ``GET /dev/messages``
(development only), so that a newcomer sees the shopper's messages while trying the app. It behaves as a careful
real provider would: it deduplicates on the delivery's idempotency key (a second call with the same key answers
with the first's id), it refuses for good the addresses it is told to (``SHOA_NOTIFY_SANDBOX_REFUSE``:
``+821012345678`` on every channel, ``alimtalk:+821012345678`` on one, to watch a fallback), and
it takes delivery reports signed with ``SHOA_NOTIFY_SANDBOX_RECEIPT_KEY`` at ``POST /webhooks/messaging/sandbox``:

    {"receipts": [{"message_id": "<its id>", "delivered": false, "result_code": "3018"}]}

with ``X-Sandbox-Signature: sha256=<hex HMAC-SHA256 of the raw body>``, as Meta and others sign theirs.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import TYPE_CHECKING, cast

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from uuid_utils.compat import uuid7

from notify.models import SandboxMessage
from notify.providers.base import Channel, Outcome, OutcomeKind, Receipt, ReceiptRejectedError
from notify.repository import read_cursor
from notify.schemas import SandboxButton, SandboxDelivery, SandboxDeliveryPage

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from notify.providers.base import Delivery

SIGNATURE_HEADER = "x-sandbox-signature"
REFUSED_CODE = "sandbox-refused"


class _ReceiptIn(msgspec.Struct, forbid_unknown_fields=True):
    message_id: uuid.UUID
    delivered: bool
    result_code: str | None = None


class _ReceiptsIn(msgspec.Struct, forbid_unknown_fields=True):
    receipts: list[_ReceiptIn]


class SandboxProvider:
    name = "sandbox"
    channels = frozenset(Channel)

    def __init__(
        self,
        *,
        session_maker: async_sessionmaker[AsyncSession],
        refused_addresses: Iterable[str] = (),
        receipt_key: str | None = None,
    ) -> None:
        self._session_maker = session_maker
        self._refused = frozenset(refused_addresses)
        self._receipt_key = receipt_key.encode() if receipt_key else None

    async def send(self, delivery: Delivery) -> Outcome:
        rendered = delivery.rendered
        if rendered.address in self._refused or f"{rendered.channel.value}:{rendered.address}" in self._refused:
            return Outcome(
                kind=OutcomeKind.PERMANENT,
                provider=self.name,
                http_status=400,
                result_code=REFUSED_CODE,
                detail=f"the sandbox refuses {rendered.channel} messages to this address, as configured",
            )
        row = {
            "id": uuid7(),
            "delivery_key": delivery.idempotency_key,
            "message_id": delivery.message_id,
            "channel": rendered.channel.value,
            "address": rendered.address,
            "title": rendered.title,
            "text": rendered.text,
            "template_code": rendered.template_code,
            "sms_kind": rendered.sms_kind,
            "buttons": [{"name": button.name, "url": button.url} for button in rendered.buttons],
            "quick_replies": list(rendered.quick_replies),
        }
        table = cast("sa.Table", SandboxMessage.__table__)
        async with self._session_maker() as session, session.begin():
            stored = await session.scalar(
                insert(table).values(row).on_conflict_do_nothing(index_elements=["delivery_key"]).returning(table.c.id)
            )
            if stored is None:  # the same delivery again: the first one stands
                stored = await session.scalar(
                    sa.select(SandboxMessage.id).where(SandboxMessage.delivery_key == delivery.idempotency_key)
                )
        return Outcome(
            kind=OutcomeKind.ACCEPTED,
            provider=self.name,
            http_status=200 if stored == row["id"] else 409,
            result_code="0",
            provider_message_id=str(stored),
        )

    def parse_receipts(self, headers: Mapping[str, str], body: bytes) -> list[Receipt]:
        if self._receipt_key is None:
            msg = "the sandbox takes no delivery reports: SHOA_NOTIFY_SANDBOX_RECEIPT_KEY is not set"
            raise ReceiptRejectedError(msg)
        expected = "sha256=" + hmac.new(self._receipt_key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(headers.get(SIGNATURE_HEADER, "").encode(), expected.encode()):
            msg = f"{SIGNATURE_HEADER} does not match the body"
            raise ReceiptRejectedError(msg)
        try:
            report = msgspec.json.decode(body, type=_ReceiptsIn)
        except msgspec.DecodeError as exc:
            msg = f"the report does not read as the sandbox's: {exc}"
            raise ReceiptRejectedError(msg) from None
        return [
            Receipt(provider_message_id=str(item.message_id), delivered=item.delivered, result_code=item.result_code)
            for item in report.receipts
        ]


def sign_receipts(key: str, body: bytes) -> str:
    """The ``X-Sandbox-Signature`` value for ``body``: what a test, or a developer with curl, sends."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


async def list_deliveries(session: AsyncSession, *, cursor: str | None, limit: int) -> SandboxDeliveryPage:
    """What the sandbox took, newest first (ids are time-ordered), a page at a time: the cursor is the last id."""
    query = sa.select(SandboxMessage).order_by(SandboxMessage.id.desc())
    if cursor is not None:
        query = query.where(SandboxMessage.id < read_cursor(cursor))
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    items = [
        SandboxDelivery(
            id=row.id,
            message_id=row.message_id,
            channel=row.channel,  # type: ignore[arg-type]
            address=row.address,
            title=row.title,
            text=row.text,
            template_code=row.template_code,
            sms_kind=row.sms_kind,  # type: ignore[arg-type]
            buttons=[SandboxButton(name=b["name"], url=b["url"]) for b in row.buttons],
            quick_replies=list(row.quick_replies),
            created_at=row.created_at,
        )
        for row in rows[:limit]
    ]
    return SandboxDeliveryPage(items=items, next_cursor=str(rows[limit - 1].id) if len(rows) > limit else None)
