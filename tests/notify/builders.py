"""Small explicit builders for the messaging tests: shoppers, messages, an outbox and a dispatcher over the test
database, and a provider that answers from a script."""

from __future__ import annotations

import datetime
import itertools
from collections import deque
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.models import User
from notify.delivery import Providers, RetryPolicy
from notify.models import Attempt, Message, SandboxMessage
from notify.providers.base import Channel, Outcome, OutcomeKind, Receipt
from notify.providers.sandbox import SandboxProvider
from notify.rendering import Templates
from notify.schemas import OutgoingMessage, Recipient
from notify.service import Outbox
from notify.worker import Dispatcher
from shoa_api.wiring import shopper_recipient
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    import uuid
    from collections.abc import Iterable, Mapping

    from sqlalchemy.ext.asyncio import AsyncEngine

    from notify.providers.base import Delivery, MessagingProvider

_numbers = itertools.count(1)
PHONE = "+821012345678"
TEMPLATES = Templates.load()
"""Loaded once for the whole suite: the files do not change while it runs."""

PARAMETERS: dict[str, dict[str, Any]] = {
    "order_received": {"order_number": "20261206-0001", "order_summary": "린넨 오버핏 셔츠 외 1건", "amount": 59000,
                       "order_url": "https://shoa.kr/orders/20261206-0001"},
    "shipping_started": {"order_number": "20261206-0001", "carrier": "CJ대한통운", "tracking_number": "654321098765",
                         "tracking_url": "https://trace.cjlogistics.com/next/tracking.html?wblNo=654321098765"},
    "deposit_requested": {"order_number": "20261206-0002", "bank": "국민은행", "account_number": "123-456-789012",
                          "amount": 39000, "deadline": datetime.datetime(2026, 12, 8, 14, 59, tzinfo=datetime.UTC),
                          "order_url": "https://shoa.kr/orders/20261206-0002"},
    "restock_available": {"product_name": "린넨 오버핏 셔츠", "option": "블랙 / M", "mall_name": "모노하우스",
                          "product_url": "https://shoa.kr/products/0193a1c2"},
    "price_dropped": {"product_name": "린넨 오버핏 셔츠", "mall_name": "모노하우스", "old_price": 39000,
                      "new_price": 29000, "product_url": "https://shoa.kr/products/0193a1c2",
                      "opt_out_url": "https://shoa.kr/opt-out/k7Qx2"},
    "cart_reminder": {"product_name": "린넨 오버핏 셔츠", "option": "블랙 / M", "mall_name": "모노하우스",
                      "price": 29000, "product_url": "https://shoa.kr/products/0193a1c2",
                      "opt_out_url": "https://shoa.kr/opt-out/k7Qx2"},
    "marketing_consent_check": {"consented_on": "2024년 12월 9일", "channels": "문자, LINE",
                                "settings_url": "https://shoa.kr/me/messages/settings"},
    "marketing_consent_changed": {"change": "수신 거부", "channels": "문자, LINE",
                                  "changed_at": "2026년 12월 9일 10:30"},
}  # fmt: skip


def outbox() -> Outbox:
    """The outbox as the app builds it: the repo's templates, shoppers looked up in accounts."""
    return Outbox(templates=TEMPLATES, recipients=shopper_recipient)


def outgoing(
    event: str = "shipping_started",
    *,
    key: str | None = None,
    user_id: uuid.UUID | None = None,
    recipient: Recipient | None = None,
    locale: str | None = None,
    parameters: dict[str, Any] | None = None,
) -> OutgoingMessage:
    return OutgoingMessage(
        event=event,
        idempotency_key=key or f"order-{next(_numbers)}:{event}",
        parameters=dict(PARAMETERS[event]) if parameters is None else parameters,
        user_id=user_id,
        recipient=recipient,
        locale=locale,  # type: ignore[arg-type]
    )


def korean_phone(*channels: Channel, phone: str = PHONE) -> Recipient:
    """Someone without an account who gave a Korean mobile and agreed to messages on ``channels``."""
    return Recipient(phone=phone, consents=frozenset(channels or (Channel.ALIMTALK, Channel.SMS)))


async def create_shopper(
    session: AsyncSession,
    *,
    phone: str | None = PHONE,
    line_user_id: str | None = None,
    talktalk_id: str | None = None,
    instagram_id: str | None = None,
    consents: Iterable[str] = ("alimtalk", "sms"),
    preferred: str | None = None,
    locale: str = "ko",
) -> User:
    user = User(
        email=f"shopper{next(_numbers)}@example.kr",
        phone=phone,
        locale=locale,
        line_user_id=line_user_id,
        talktalk_id=talktalk_id,
        instagram_id=instagram_id,
        preferred_messenger=preferred,
        **{f"consent_{channel}": True for channel in consents},
    )
    session.add(user)
    await session.commit()
    return user


class ScriptedProvider:
    """A provider answering from a script (one outcome kind, or a whole outcome, per call; ACCEPTED once the
    script runs out), recording every delivery it was handed."""

    def __init__(self, name: str, channels: Iterable[Channel], script: Iterable[OutcomeKind | Outcome] = ()) -> None:
        self.name = name
        self.channels = frozenset(channels)
        self.script: deque[OutcomeKind | Outcome] = deque(script)
        self.deliveries: list[Delivery] = []

    async def send(self, delivery: Delivery) -> Outcome:
        self.deliveries.append(delivery)
        step = self.script.popleft() if self.script else OutcomeKind.ACCEPTED
        if isinstance(step, Outcome):
            return step
        return Outcome(
            kind=step,
            provider=self.name,
            http_status={OutcomeKind.ACCEPTED: 200, OutcomeKind.TRANSIENT: 503, OutcomeKind.PERMANENT: 400}[step],
            provider_message_id=f"{self.name}-{len(self.deliveries)}" if step is OutcomeKind.ACCEPTED else None,
            detail=f"scripted {step}",
        )

    def parse_receipts(self, headers: Mapping[str, str], body: bytes) -> list[Receipt]:
        return []


class Clock:
    """A clock the test moves: retries come due without waiting for them."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


def sandbox(engine: AsyncEngine, *, refuse: Iterable[str] = (), receipt_key: str | None = None) -> SandboxProvider:
    return SandboxProvider(session_maker=sessions(engine), refused_addresses=refuse, receipt_key=receipt_key)


def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def dispatcher(
    by_channel: Mapping[Channel, MessagingProvider],
    *,
    clock: Clock | None = None,
    policy: RetryPolicy | None = None,
    batch_size: int = 10,
) -> Dispatcher:
    return Dispatcher(
        templates=TEMPLATES,
        providers=Providers(by_channel),
        policy=policy or RetryPolicy(max_attempts=4, base_seconds=2.0, max_seconds=60.0, lease_seconds=60.0),
        batch_size=batch_size,
        clock=clock or utc_now,
    )


def every_channel(provider: MessagingProvider) -> dict[Channel, MessagingProvider]:
    return dict.fromkeys(Channel, provider)


async def stored(session: AsyncSession, message_id: uuid.UUID) -> Message:
    message = await session.scalar(
        sa.select(Message).where(Message.id == message_id).execution_options(populate_existing=True)
    )
    assert message is not None
    return message


async def attempts(session: AsyncSession, message_id: uuid.UUID) -> list[Attempt]:
    query = sa.select(Attempt).where(Attempt.message_id == message_id).order_by(Attempt.id)
    return list((await session.scalars(query.execution_options(populate_existing=True))).all())


async def sandbox_messages(session: AsyncSession) -> list[SandboxMessage]:
    query = sa.select(SandboxMessage).order_by(SandboxMessage.id).execution_options(populate_existing=True)
    return list((await session.scalars(query)).all())
