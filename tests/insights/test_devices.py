"""A device's age on the server's clock: when the store and the feed first saw it, and what that age is worth.

``device_seen_long_ago`` is how the other suites get devices that have been around: it writes the marks a month
of real use would have left (the feed's first-seen key in Redis, the store's ``insights_devices`` row), the same
ones ``POST /v1/events`` writes on a device's first batch."""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from insights.devices import FIRST_SEEN_KEEP, FULL_TRUST_AFTER, TRUSTED_AFTER, age_trust
from insights.models import Device
from personalization.scores import FIRST_SEEN_PREFIX
from tests.shoa_api.test_auth import bearer, signup

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient
    from tests.orders.conftest import Catalog

A_MONTH = datetime.timedelta(days=30)


async def device_seen_long_ago(
    session: AsyncSession, redis: Redis, device_id: str, *, age: datetime.timedelta = A_MONTH
) -> dict[str, str]:
    """Mark ``device_id`` as first seen ``age`` ago by the feed and the store; the headers it sends events with."""
    first_seen = datetime.datetime.now(datetime.UTC) - age
    await redis.set(f"{FIRST_SEEN_PREFIX}device:{device_id}", repr(first_seen.timestamp()),
                    ex=int(FIRST_SEEN_KEEP.total_seconds()))  # fmt: skip
    await session.execute(
        insert(Device)
        .values(device_id=device_id, first_seen=first_seen)
        .on_conflict_do_update(index_elements=[Device.device_id], set_={"first_seen": first_seen})
    )
    await session.commit()
    return {"X-Device-Id": device_id}


def view(product_id: uuid.UUID) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC).isoformat()
    return {"id": str(uuid.uuid4()), "kind": "view", "product_id": str(product_id), "occurred_at": now}


async def first_seen(session: AsyncSession) -> dict[str, datetime.datetime]:
    rows = await session.execute(
        sa.select(Device.device_id, Device.first_seen).execution_options(populate_existing=True)
    )
    return dict(rows.all())


async def first_seen_mark(redis: Redis, device_id: str) -> float:
    """The feed's mark: when the server first received a batch of the device (Unix time)."""
    raw = await redis.get(f"{FIRST_SEEN_PREFIX}device:{device_id}")
    assert raw is not None
    return float(raw)


def test_a_device_counts_nothing_on_its_first_day_then_grows_to_full_in_a_week() -> None:
    assert age_trust(datetime.timedelta(0)) == 0
    assert age_trust(TRUSTED_AFTER - datetime.timedelta(seconds=1)) == 0
    assert age_trust(TRUSTED_AFTER) == pytest.approx(1 / 7)
    assert age_trust(datetime.timedelta(days=2)) == pytest.approx(2 / 7)
    assert age_trust(FULL_TRUST_AFTER) == age_trust(A_MONTH) == 1


async def test_a_devices_first_batch_notes_it_once_on_the_servers_clock_and_shoppers_are_not_noted(
    client: ShoaClient, session: AsyncSession, redis_client: Redis, catalog: Catalog
) -> None:
    product_id = next(iter(catalog.products.values()))
    before = datetime.datetime.now(datetime.UTC)
    week_ago = (before - datetime.timedelta(days=6)).isoformat()
    # The app's clock says the events happened days ago: the server's says when it first saw the device.
    backdated = [view(product_id) | {"occurred_at": week_ago}]
    response = await client.post("/v1/events", json={"events": backdated}, headers={"X-Device-Id": "new-phone-01"})
    assert response.json()["accepted"] == 1
    noted = await first_seen(session)
    assert list(noted) == ["new-phone-01"]
    assert before <= noted["new-phone-01"] <= datetime.datetime.now(datetime.UTC)
    mark = await first_seen_mark(redis_client, "new-phone-01")
    assert before.timestamp() <= mark <= datetime.datetime.now(datetime.UTC).timestamp()

    await client.post("/v1/events", json={"events": [view(product_id)]}, headers={"X-Device-Id": "new-phone-01"})
    shopper = bearer(await signup(client, email="minji@example.kr"))
    await client.post("/v1/events", json={"events": [view(product_id)]}, headers=shopper)

    assert await first_seen(session) == noted
    assert await first_seen_mark(redis_client, "new-phone-01") == mark
