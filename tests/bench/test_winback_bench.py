"""The win-back benchmark: its population and response model, the pooled interval, and one tiny run from start to
saved table whose audits hold."""

from __future__ import annotations

import datetime
import json
import random
import signal
import uuid
from typing import TYPE_CHECKING

from bench.__main__ import main
from bench.winback_population import (
    LIKES,
    MARKETING_SHARE,
    ResponseModel,
    ShelfProduct,
    fallen_price,
    plan_shoppers,
    uplift_interval,
)
from winback.policy import PURCHASE_WINDOW

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

COUNTED = ("sent", "held_out", "bought", "held_out_bought")
"""What the run decides and draws itself, and the reports must add up to."""
DECIDED = datetime.datetime(2026, 12, 1, 13, 30, tzinfo=datetime.UTC)
"""22:30 in Korea."""


def _shelf(count: int = 40) -> list[ShelfProduct]:
    mall = uuid.UUID(int=7)
    return [ShelfProduct(uuid.UUID(int=1000 + n), mall, f"D{n:07d}", (uuid.UUID(int=5000 + n),)) for n in range(count)]


def test_the_population_agrees_to_what_its_shares_say_and_likes_distinct_products() -> None:
    shoppers = plan_shoppers(random.Random(1), _shelf(), count=2_000)

    assert {len({product.product_id for product in s.likes}) for s in shoppers} == {LIKES}
    assert abs(sum(s.marketing for s in shoppers) / len(shoppers) - MARKETING_SHARE) < 0.03
    assert not any(s.night and not s.marketing for s in shoppers)  # night alone reaches no one
    assert len({s.phone for s in shoppers}) == len({s.user_id for s in shoppers}) == 2_000
    assert all(s.phone.startswith("+8210") for s in shoppers)
    assert plan_shoppers(random.Random(1), _shelf(), count=5) == shoppers[:5]  # the seed gives the same shoppers


def test_a_fall_passes_every_shopper_s_ten_percent_threshold() -> None:
    assert fallen_price(45_000) == 38_200
    assert all(fallen_price(price) <= price * 0.9 for price in range(1_000, 200_000, 700))


def test_a_purchase_comes_after_the_message_reaches_her_and_inside_the_decision_s_week() -> None:
    morning = DECIDED + datetime.timedelta(hours=9, minutes=30)  # held until 08:00
    always, never = ResponseModel(base_rate=0.0, uplift=1.0), ResponseModel(base_rate=0.0, uplift=0.0)
    rng = random.Random(2)

    moments = [always.purchase(rng, messaged=True, decided_at=DECIDED, sends_at=morning) for _ in range(500)]

    assert all(m is not None and morning <= m < DECIDED + PURCHASE_WINDOW for m in moments)
    assert always.purchase(rng, messaged=False, decided_at=DECIDED, sends_at=None) is None  # held out: base rate
    assert never.purchase(rng, messaged=True, decided_at=DECIDED, sends_at=DECIDED) is None


def test_the_pooled_interval_is_newcombes_from_two_wilson_intervals() -> None:
    # Newcombe (1998), "Interval estimation for the difference between independent proportions", method 10:
    # 56/70 against 48/80 gives 0.2000 in [0.0524, 0.3339].
    interval = uplift_interval(56, 70, 48, 80)

    assert interval is not None
    assert (interval.points, interval.low, interval.high) == (20.0, 5.24, 33.39)
    assert interval.contains(6.0)
    assert not interval.contains(40.0)
    # A small hold-out that bought nothing keeps a width (a normal interval would collapse to a point there).
    small = uplift_interval(0, 18, 0, 2)
    assert small is not None
    assert small.low < 0 < small.high
    assert uplift_interval(3, 30, 0, 0) is None  # nobody held out: nothing to compare with


def test_a_tiny_run_saves_its_table_and_the_reports_add_up_to_what_was_decided_and_drawn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["winback", "--products", "200", "--shoppers", "400", "--waiting", "2500", "--uplift", "10",
            "--output-dir", str(tmp_path)]  # fmt: skip

    handler = signal.getsignal(signal.SIGTERM)
    try:
        answer = main(argv)
    finally:
        signal.signal(signal.SIGTERM, handler)  # `python -m bench` makes SIGTERM unwind; not this test run's

    printed = capsys.readouterr().out
    assert "all advertising" in printed
    assert "one message per waiting shopper, every alert notified" in printed
    [saved] = tmp_path.glob("winback-*.json")
    result = json.loads(saved.read_text())
    assert result["problems"] == []
    assert answer == (0 if result["uplift"]["model_inside"] else 1)
    for kind, reported in result["reported"].items():
        drawn = result["simulated"][kind]
        assert [reported[n] for n in COUNTED] == [drawn[n] for n in COUNTED]
        assert reported["clicked"] == reported["bought"]  # every messaged buyer tapped the link first
    assert result["reported"]["price_drop"]["sent"] > 0
    assert result["reported"]["price_drop"]["held_out"] > 0
    assert result["night_held"]["cart_reminder"] > 0  # decided at 22:30 for shoppers without the night consent
    assert result["night_held"]["price_drop"] == 0  # decided at noon
    assert set(result["reported"]["price_drop"]["suppressed"]) >= {"no_consent", "turned_off"}
    restock = result["restock"]
    assert restock["waiting"] == 2_500
    assert restock["wave_per_s"] > 0
    assert restock["copy_per_s"] > 0
    assert (tmp_path / saved.name.replace(".json", ".md")).read_text().startswith("# `winback` benchmark")
