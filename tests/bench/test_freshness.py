"""The freshness benchmark's yardsticks: nearest-rank percentiles, and the changes a partner sends."""

from __future__ import annotations

import datetime

import pytest

from bench.freshness import partner_products, percentile, renamed


def test_the_99th_percentile_of_a_hundred_delays_is_the_99th_smallest() -> None:
    delays = [float(n) for n in range(100, 0, -1)]

    assert percentile(delays, 0.99) == 99.0
    assert percentile(delays, 0.50) == 50.0
    assert percentile(delays, 1.0) == 100.0


def test_a_percentile_of_few_values_is_one_of_them() -> None:
    assert percentile([0.4, 1.9], 0.99) == 1.9
    assert percentile([0.4, 1.9], 0.50) == 0.4
    assert percentile([], 0.99) == 0.0


def test_a_change_renames_the_product_and_is_the_newest_state() -> None:
    item = partner_products("haru-ilsang", 1, catalog=200)[0]

    changed = renamed(item, "fresh00ab")

    assert changed["name"] == f"{item['name']} fresh00ab"
    assert changed["external_id"] == item["external_id"]
    assert changed["variants"] == item["variants"]
    sent = datetime.datetime.fromisoformat(changed["source_updated_at"])
    assert sent > datetime.datetime.fromisoformat(item["source_updated_at"])


def test_a_catalog_too_small_for_the_changes_is_refused() -> None:
    with pytest.raises(ValueError, match="fewer than 100 of haru-ilsang"):
        partner_products("haru-ilsang", 100, catalog=50)
