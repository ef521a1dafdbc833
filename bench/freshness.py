"""How soon a partner's change is searchable: one product at a time through ``PUT /partner/v1/products``, and a
poller searching until the change is found. Goal: within 2 s (p99) at the worker's default interval.

``python -m bench index`` runs it once the ``shoa worker`` has indexed the whole catalog, with that worker still
running every production job at its default interval and the API beside it (public cache off: a cached answer
may be up to ``SHOA_PUBLIC_CACHE_SECONDS`` older, whatever the engine). Each change gives a product of the
demo catalog a name with a word nothing else holds; the poller searches that word until the product is among
the hits. The delay runs from the PUT's answer (the change is committed then) to the first answer holding it.
A random pause of up to a second between changes lands each at a different moment of the worker's cycle.
"""

from __future__ import annotations

import datetime
import math
import random
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from bench.server import AppServer
from catalog.demo_products import generate_catalog

if TYPE_CHECKING:
    from pathlib import Path

GOAL_P99_SECONDS = 2.0
POLL_PAUSE_SECONDS = 0.01
GIVE_UP_SECONDS = 30.0
SEED = 20261208
"""Of the pauses between changes."""


@dataclass(frozen=True)
class Freshness:
    delays: tuple[float, ...]
    """Seconds from each PUT's answer to the first search answer holding the change, in the order measured."""
    put_ms_p50: float
    missed: int
    """Changes not found within ``GIVE_UP_SECONDS``."""
    failed_searches: tuple[str, ...]
    """The poller's searches answered with an error (status and the start of the body)."""

    def percentile(self, share: float) -> float:
        return percentile(self.delays, share)


def percentile(values: tuple[float, ...] | list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``share`` of the values at or below it."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(max(math.ceil(share * len(ordered)), 1), len(ordered))
    return ordered[rank - 1]


def partner_products(mall_slug: str, count: int, *, catalog: int) -> list[dict[str, Any]]:
    """The first ``count`` products of ``mall_slug`` in a demo catalog of ``catalog`` products (as
    ``bench.http.seed_catalog`` wrote it), as that mall sends them: the same external ids, so a PUT updates."""
    now = datetime.datetime.now(datetime.UTC)
    products = []
    for product in generate_catalog(catalog, now=now):
        if product.mall_slug == mall_slug:
            products.append(product.item)
            if len(products) == count:
                return products
    msg = f"a demo catalog of {catalog:,} products holds fewer than {count} of {mall_slug}"
    raise ValueError(msg)


def renamed(item: dict[str, Any], word: str) -> dict[str, Any]:
    """``item`` with ``word`` added to its name, sent as the mall's newest state of it."""
    return item | {
        "name": f"{item['name']} {word}",
        "source_updated_at": datetime.datetime.now(datetime.UTC).isoformat(),
    }


def measure_beside_api(
    environment: dict[str, str],
    *,
    work_dir: Path,
    cpus: frozenset[int] | None,
    partner_key: str,
    products: list[dict[str, Any]],
) -> Freshness:
    """Start the API with ``environment`` (the worker's settings, public cache off) and measure ``products``'
    changes through it."""
    with AppServer(
        "shoa_api.app:create_app_from_environment",
        environment=environment,
        log_path=work_dir / "api.log",
        ready_path="/health/live",
        cpus=cpus,
        cwd=work_dir,
    ) as api:
        return measure_freshness(api.base_url, partner_key=partner_key, products=products)


def measure_freshness(base_url: str, *, partner_key: str, products: list[dict[str, Any]]) -> Freshness:
    rng = random.Random(SEED)
    delays: list[float] = []
    put_ms: list[float] = []
    missed = 0
    headers = {"Authorization": f"Bearer {partner_key}"}
    with httpx.Client(base_url=base_url, timeout=10.0) as client:
        poller = _Poller(client)
        for number, item in enumerate(products, start=1):
            word = f"fresh{secrets.token_hex(6)}"  # new in every run, so an earlier run's index cannot answer
            sent = time.perf_counter()
            response = client.put("/partner/v1/products", json={"products": [renamed(item, word)]}, headers=headers)
            answered = time.perf_counter()
            if response.status_code != 200 or response.json().get("updated") != 1:
                msg = f"PUT of {item['external_id']} answered {response.status_code}: {response.text[:300]}"
                raise RuntimeError(msg)
            put_ms.append(1000 * (answered - sent))
            found_at = poller.first_found(word, since=answered)
            if found_at is None:
                missed += 1
            else:
                delays.append(found_at - answered)
            if number % 10 == 0:
                print(f"  {number} changes: p50 {percentile(delays, 0.5):.2f}s, max {max(delays, default=0):.2f}s")
            time.sleep(rng.random())
    return Freshness(tuple(delays), percentile(put_ms, 0.5), missed, tuple(poller.failed))


class _Poller:
    """Searches until a word is found, counting the answers that were not a page of results."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.failed: list[str] = []

    def first_found(self, word: str, *, since: float) -> float | None:
        """When a search for ``word`` first answered with the product named with it; ``None`` if not in time."""
        while time.perf_counter() - since < GIVE_UP_SECONDS:
            response = self.client.get("/v1/search", params={"q": word})
            arrived = time.perf_counter()
            if response.status_code != 200:
                self.failed.append(f"{response.status_code}: {response.text[:300]}")
            elif any(word in hit["name"] for hit in response.json()["items"]):
                return arrived
            time.sleep(POLL_PAUSE_SECONDS)
        return None
