"""The manipulation benchmark: its verdicts, its table, and a whole run in a tiny configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.__main__ import main
from bench.manipulation import FIRST, AttackResult, ManipulationReport, attacks, render_markdown, rows

if TYPE_CHECKING:
    from pathlib import Path


def _result(name: str, devices: int, before: dict[str, int | None], after: dict[str, int | None]) -> AttackResult:
    return AttackResult(name, devices, events=4 * max(devices, 1), targets=["p"], before=before, after=after)


def test_a_device_attack_misses_only_by_bringing_a_product_into_a_feeds_first_twenty() -> None:
    below = _result("100 devices", 100, {"feed anonymous": None, "search popularity": None},
                    {"feed anonymous": FIRST + 1, "search popularity": 1})  # fmt: skip
    into = _result("100 devices", 100, {"feed anonymous": 250}, {"feed anonymous": FIRST})
    already = _result("one device", 1, {"feed anonymous": 3}, {"feed anonymous": 2})
    ring = _result("ring", 0, {"feed anonymous": None}, {"feed anonymous": 1})

    assert (below.met(), below.reached_first()) == (True, [])  # the search is reported, the goal is the feeds'
    assert (into.met(), into.reached_first()) == (False, ["feed anonymous"])
    assert already.met() is True  # it was there before the attack
    assert ring.met() is None  # accounts: reported, no goal


def test_the_table_has_a_row_per_surface_and_a_column_per_attack() -> None:
    report = ManipulationReport(
        command="python -m bench manipulation", started_at="2026-12-07T12:00:00+00:00", options={}, seconds={},
        surfaces=["feed anonymous", "search popularity"], depth={"feed": 300, "rankings": 50, "search": 200},
        results=[_result("one device", 1, {"feed anonymous": 143}, {"feed anonymous": 143, "search popularity": None})],
    )  # fmt: skip

    assert rows(report) == [("feed anonymous", "143 -> 143"), ("search popularity", ">200 -> >200")]
    assert "one device: 4 events accepted; feeds whose first 20 it reached: none; goal: met." in render_markdown(report)


def test_a_tiny_run_replays_every_attack_through_the_api_and_the_worker(tmp_path: Path) -> None:
    assert main(["manipulation", "--products", "600", "--shoppers", "3", "--no-rankings",
                 "--output-dir", str(tmp_path)]) == 0  # fmt: skip

    (saved,) = tmp_path.glob("manipulation-*.md")
    page = saved.read_text()
    assert all(attack.name in page for attack in attacks())
    assert "| feed female:40s_plus |" in page
    # A hundred fresh device ids, each on one product only, move nothing at all.
    assert "100 fresh devices on one product: 400 events accepted; feeds whose first 20 it reached: none" in page
