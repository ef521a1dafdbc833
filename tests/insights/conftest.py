"""What the event store's tests share: the order suite's malls, catalog and shoppers (see tests/orders/conftest.py),
the store's rows as tests read them, and events written straight into the store for the roll-up's tests."""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from insights.models import Event
from tests.orders.conftest import catalog, malls, shopper  # noqa: F401 - fixtures shared with the order tests

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


async def stored_events(session: AsyncSession, **where: Any) -> list[Event]:
    """The store's events (``where``: column equal to value), oldest first."""
    query = sa.select(Event).order_by(Event.at, Event.kind)
    for name, value in where.items():
        query = query.where(getattr(Event, name) == value)
    return list((await session.scalars(query.execution_options(populate_existing=True))).all())


def raw_event(
    at: datetime.datetime,
    kind: str = "view",
    *,
    product_id: uuid.UUID,
    mall_id: uuid.UUID,
    segment: str = "female:20s_late",
    category_path: str = "원피스/셔츠원피스",
    who: str | None = None,
    recorded_at: datetime.datetime | None = None,
    quantity: int | None = None,
    amount: int | None = None,
) -> Event:
    """An event as the store holds it, written straight in: ``who`` names a device (``d…``) or a shopper."""
    device = who if who is not None and who.startswith("d") else None
    shopper_id = uuid.uuid5(uuid.NAMESPACE_URL, who) if who is not None and device is None else None
    return Event(
        at=at, id=uuid.uuid4(), recorded_at=recorded_at or at, kind=kind, product_id=product_id, mall_id=mall_id,
        category_path=category_path, segment=segment, shopper_id=shopper_id, device_id=device,
        dedupe_key=uuid.uuid4(), quantity=quantity, amount=amount,
    )  # fmt: skip


def hour(day: int, at_hour: int, minute: int = 0) -> datetime.datetime:
    """A time on a December 2026 day (UTC)."""
    return datetime.datetime(2026, 12, day, at_hour, minute, tzinfo=datetime.UTC)
