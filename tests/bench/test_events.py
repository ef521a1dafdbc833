"""The events benchmark: batches an app would send, COPY rows of the same shape, and one run in a tiny
configuration from start to saved table (the rounds' arithmetic is ``test_rounds``'s)."""

from __future__ import annotations

import datetime
import json
import random
import signal
import uuid
from typing import TYPE_CHECKING

from bench.__main__ import main
from bench.events import BATCH, EVENT_COLUMNS, Sender, Shelf, copy_rows, event_batch

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
MALL = uuid.UUID(int=7)


def _shelf(count: int = 50) -> Shelf:
    return Shelf.of([(uuid.UUID(int=1000 + n), MALL, "상의/니트") for n in range(count)])


def test_a_batch_is_what_the_events_api_accepts_and_popular_products_come_up_more() -> None:
    rng, shelf = random.Random(1), _shelf()

    batches = [event_batch(rng, shelf, now=NOW) for _ in range(200)]

    events = [event for batch in batches for event in batch]
    assert {len(batch) for batch in batches} == {BATCH}
    assert len({event["id"] for event in events}) == len(events)
    assert {event["kind"] for event in events} == {"view", "click", "like", "add_to_cart"}
    ages = [NOW - datetime.datetime.fromisoformat(event["occurred_at"]) for event in events]
    assert all(datetime.timedelta(0) <= age <= datetime.timedelta(minutes=3) for age in ages)
    first, last = (sum(event["product_id"] == str(shelf.products[i][0]) for event in events) for i in (0, -1))
    assert first > 3 * last


def test_copy_rows_have_the_store_s_columns_and_the_population_s_segments() -> None:
    shopper = Sender(authorization="Bearer x", user_id=uuid.uuid4(), segment="female:20s_late", gender="female",
                     age_band="20s_late")  # fmt: skip
    senders = [Sender(device_id="bench-device-000001"), shopper]

    rows = copy_rows(random.Random(2), _shelf(), senders, now=NOW, count=1_000)

    assert len(rows) == 1_000
    assert {len(row) for row in rows} == {len(EVENT_COLUMNS)}
    by_column = [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in rows]
    assert {(row["segment"], row["device_id"], row["shopper_id"]) for row in by_column} == {
        ("anonymous", "bench-device-000001", None),
        ("female:20s_late", None, shopper.user_id),
    }
    assert len({row["id"] for row in by_column}) == len({row["dedupe_key"] for row in by_column}) == 1_000
    assert {row["mall_id"] for row in by_column} == {MALL}


def test_a_tiny_run_posts_through_the_api_copies_beside_it_and_stores_every_event_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["events", "--products", "120", "--duration", "0.5", "--rounds", "2", "--warmup", "0.2",
            "--connections", "2", "--output-dir", str(tmp_path)]  # fmt: skip

    handler = signal.getsignal(signal.SIGTERM)
    try:
        assert main(argv) == 0
    finally:
        signal.signal(signal.SIGTERM, handler)  # `python -m bench` makes SIGTERM unwind; not this test run's

    printed = capsys.readouterr().out
    assert "every event stored once" in printed
    [saved] = tmp_path.glob("events-*.json")
    result = json.loads(saved.read_text())
    assert len(result["api_events_per_s"]) == len(result["copy_rows_per_s"]) == 2
    first, second = result["comparison"]["rounds"]
    assert (first["side_first"], second["side_first"]) == (True, False)  # COPY first in the second round
    assert first["baseline"]["seconds"] >= first["side"]["seconds"]  # COPY ran as long as the API did
    assert result["ratio_low"] <= result["ratio"] <= result["ratio_high"]
    assert all(rate > 0 for rate in result["api_events_per_s"] + result["copy_rows_per_s"])
    assert result["stored"] == result["expected"] > 0
    assert (tmp_path / saved.name.replace(".json", ".md")).read_text().startswith("# `events` benchmark")
