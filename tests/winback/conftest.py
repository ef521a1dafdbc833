"""What the win-back tests share: the order tests' malls, catalog, shoppers and sandbox messages (see
``tests/orders/conftest.py``), and the worker's win-back jobs run in-process on a clock the test chooses.

- ``jobs.restock()``, ``jobs.price_drops(at)``, ``jobs.cart_reminders(at)``: one run of the worker's real job.
- ``jobs.decisions(user_id)``: the shopper's win-back decisions, oldest first, as ``(kind, outcome, reason)``.
- ``agree_to_advertising(shopper, *channels)``: marketing consent given over HTTP, as the app's settings do.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker

from shoa_kernel.clock import utc_now
from tests.notify.builders import Clock, dispatcher, every_channel, sandbox
from tests.orders.conftest import (  # noqa: F401 - fixtures, registered by being imported
    catalog,
    malls,
    many_shoppers,
    messages,
    shopper,
    sign_up,
)
from winback import jobs as winback_jobs
from winback.models import Send
from winback.policy import in_holdout

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.client import ShoaClient
    from tests.orders.conftest import Shopper
    from winback.jobs import WinbackKit

KOREA = datetime.timezone(datetime.timedelta(hours=9))


def korea(hour: int, minute: int = 0, *, days: int = 0) -> datetime.datetime:
    """Today (in Korea) at ``hour:minute`` Korea time, ``days`` later."""
    today = utc_now().astimezone(KOREA).date() + datetime.timedelta(days=days)
    return datetime.datetime.combine(today, datetime.time(hour, minute), KOREA)


@dataclass(frozen=True, kw_only=True)
class Jobs:
    engine: AsyncEngine
    kit: WinbackKit

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return async_sessionmaker(self.engine, expire_on_commit=False)

    def with_rules(self, **changes: Any) -> Jobs:
        return replace(self, kit=replace(self.kit, rules=replace(self.kit.rules, **changes)))

    async def restock(self, *, chunk: int = winback_jobs.WAVE_CHUNK, one_chunk: bool = False) -> bool:
        return await winback_jobs.restock_waves(
            self.sessions, self.kit, clock=utc_now, chunk=chunk, seconds=0 if one_chunk else 30
        )

    async def price_drops(self, at: datetime.datetime | None = None) -> bool:
        return await winback_jobs.price_drops(self.sessions, self.kit, clock=lambda: at or utc_now())

    async def cart_reminders(self, at: datetime.datetime | None = None) -> bool:
        return await winback_jobs.cart_reminders(self.sessions, self.kit, clock=lambda: at or utc_now())

    async def send_messages(self, at: datetime.datetime) -> int:
        """Send every message due at ``at`` (notify's dispatcher with the sandbox on every channel, on that clock:
        advertising waits for the morning when the clock says night in Korea)."""
        clock = Clock()
        clock.now = at
        return await dispatcher(every_channel(sandbox(self.engine)), clock=clock).run(self.sessions)

    async def decisions(self, user_id: uuid.UUID) -> list[tuple[str, str, str | None]]:
        async with self.sessions() as session:
            rows = await session.execute(
                sa.select(Send.kind, Send.outcome, Send.reason).where(Send.user_id == user_id).order_by(Send.id)
            )
            return [(kind, outcome, reason) for kind, outcome, reason in rows]

    async def sends(self, user_id: uuid.UUID) -> list[Send]:
        async with self.sessions() as session:
            return list(await session.scalars(sa.select(Send).where(Send.user_id == user_id).order_by(Send.id)))


@pytest.fixture
def jobs(client: ShoaClient, engine: AsyncEngine) -> Jobs:
    """The app's own win-back kit (its outbox, recipient lookup and rules from the test settings), with no hold-out
    unless a test asks for one: a test about a rule other than the hold-out must not depend on which shoppers the
    hash happens to hold out."""
    kit: WinbackKit = client.app.state.winback
    return Jobs(engine=engine, kit=kit).with_rules(holdout_percent=0)


async def agree_to_advertising(someone: Shopper, *channels: str) -> None:
    for channel in channels or ("sms",):
        response = await someone.call("PUT", f"/v1/me/marketing/{channel}")
        assert response.status_code == 200, response.text


def held_out(jobs: Jobs, user_id: uuid.UUID, percent: int = 10) -> bool:
    return in_holdout(user_id, replace(jobs.kit.rules, holdout_percent=percent))
