"""A paid order counts as a purchase for the shopper's segment: the server's own signal (apps cannot send purchases),
counted once however often the payment is confirmed or its webhook delivered, and not before the money is in."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import pytest

from personalization.scores import PEOPLE, segment_scores
from tests.orders.conftest import pay_by_card, place_order, receive_deposit, sandbox_gateway

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tests.client import ShoaClient
    from tests.orders.conftest import Catalog, Shopper


async def purchases(client: ShoaClient, redis: Redis) -> dict[uuid.UUID, float]:
    """Every segment's scores, summed per product (the shopper's segment is whatever her profile makes it)."""
    decay = client.app.state.recorder.decay
    totals: dict[uuid.UUID, float] = {}
    for raw in await redis.smembers("shoa:feed:segments"):
        segment = _text(raw).removeprefix("shoa:feed:scores:")
        if segment.startswith(PEOPLE):
            continue  # how many people the scores come from, not scores
        for product_id, score in await segment_scores(redis, decay, segment, now=time.time()):
            totals[product_id] = totals.get(product_id, 0.0) + score
    return totals


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


async def test_a_deposit_counts_each_product_bought_once_as_a_purchase(
    catalog: Catalog, shopper: Shopper, client: ShoaClient, redis_client: Redis
) -> None:
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 2, catalog.variant("M1-GR-F"): 1},
                              payment_method="virtual_account")  # fmt: skip
    assert await purchases(client, redis_client) == {}  # ordered, not paid: nothing yet

    await receive_deposit(shopper, order)
    callback = await sandbox_gateway(client).deposit(order["number"])
    await client.post("/webhooks/payments/sandbox", content=callback)  # delivered again

    bought = {uuid.UUID(line["product_id"]) for part in order["mall_orders"] for line in part["lines"]}
    weight = client.app.state.recorder.weights["purchase"]
    scores = await purchases(client, redis_client)
    assert set(scores) == bought
    # Counted once per product, pooled once more across segments: never twice for a redelivered webhook.
    assert all(score <= 2 * weight + 1e-6 for score in scores.values())
    first = dict(scores)
    await client.post("/webhooks/payments/sandbox", content=callback)
    assert await purchases(client, redis_client) == pytest.approx(first, rel=1e-4)  # decaying, not growing


async def test_a_confirmed_card_payment_counts_as_a_purchase(
    catalog: Catalog, shopper: Shopper, client: ShoaClient, redis_client: Redis
) -> None:
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1})

    await pay_by_card(shopper, order)

    bought = {uuid.UUID(order["mall_orders"][0]["lines"][0]["product_id"])}
    assert set(await purchases(client, redis_client)) == bought
