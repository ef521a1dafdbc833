"""Interleaved rounds (``bench.rounds``): the ratio is the median of each round's own ratio, the baseline runs as
long as the side it is compared with, and the order alternates so a drifting machine favours neither side."""

from __future__ import annotations

import pytest

from bench.rounds import (
    Comparison,
    Lap,
    Round,
    compare,
    in_round_order,
    interleave,
    interleave_async,
    listed,
    repeat_for,
    repeat_for_async,
)


def _rounds(*pairs: tuple[float, float]) -> Comparison:
    """Rounds whose side and baseline each did ``rate`` work in one second."""
    return compare([Lap(side, 1.0) for side, _ in pairs], [Lap(baseline, 1.0) for _, baseline in pairs])


def test_the_ratio_is_the_median_of_each_round_s_own_ratio_not_the_ratio_of_the_medians() -> None:
    # Issue 20's case: the API's own rate holds while the one-second COPY swings between runs.
    comparison = _rounds((3_300, 45_000), (3_400, 79_000), (3_200, 60_000))

    assert comparison.ratios == [3_300 / 45_000, 3_400 / 79_000, 3_200 / 60_000]
    assert comparison.ratio == 3_200 / 60_000
    assert comparison.ratio != comparison.side_rate / comparison.baseline_rate  # 3,300 / 60,000
    assert (comparison.low, comparison.high) == (3_400 / 79_000, 3_300 / 45_000)


def test_one_round_in_which_the_machine_was_busy_moves_the_ratio_no_more_than_any_other_round() -> None:
    steady = _rounds((1_000, 50_000), (1_100, 55_000), (900, 45_000), (1_000, 50_000), (1_000, 50_000))
    one_slow_baseline = _rounds((1_000, 50_000), (1_100, 55_000), (900, 45_000), (1_000, 50_000), (1_000, 5_000))

    assert one_slow_baseline.ratio == steady.ratio == pytest.approx(0.02)
    assert one_slow_baseline.high == pytest.approx(0.2)  # but the spread shows it


def test_an_even_number_of_rounds_takes_the_mean_of_the_middle_two_ratios() -> None:
    assert _rounds((1, 10), (2, 10), (3, 10), (10, 10)).ratio == pytest.approx(0.25)


def test_a_baseline_that_did_nothing_gives_a_ratio_of_zero_rather_than_an_error() -> None:
    assert Round(1, Lap(100, 1.0), Lap(0, 0.0)).ratio == 0.0
    assert Comparison(()).ratio == 0.0


def test_the_report_shows_the_median_the_range_and_every_round() -> None:
    comparison = _rounds((1, 4), (1, 5), (1, 8))

    assert comparison.spread() == "0.125-0.250x"
    assert comparison.per_round() == "0.250x / 0.200x / 0.125x"
    assert listed([86_151, 41_452.4]) == "86,151 / 41,452"
    document = comparison.as_json()
    assert document["ratio"] == 0.2
    assert [entry["side_first"] for entry in document["rounds"]] == [True, False, True]
    assert document["rounds"][1]["baseline"] == {"work": 5, "seconds": 1.0, "rate": 5.0, "repeats": 1}


def test_laps_add_up_work_seconds_and_repeats() -> None:
    total = Lap(80_000, 0.9) + Lap(80_000, 1.1)

    assert total == Lap(160_000, 2.0, repeats=2)
    assert total.rate == 80_000


class _Unit:
    """A unit of work that takes ``seconds`` of timed work each time; untimed preparation takes none."""

    def __init__(self, seconds: float, work: float = 100.0) -> None:
        self.seconds, self.work, self.runs = seconds, work, 0

    def __call__(self) -> Lap:
        self.runs += 1
        return Lap(self.work, self.seconds)

    async def run_async(self) -> Lap:
        return self()


def test_a_short_baseline_unit_repeats_until_it_has_run_as_long_as_the_side() -> None:
    unit = _Unit(0.9)  # a COPY of ~1 s beside an API that took 6 s

    lap = repeat_for(6.0, unit)

    assert unit.runs == lap.repeats == 7  # 6.3 s: the first run past 6 s
    assert lap.work == 700.0
    assert lap.seconds == pytest.approx(6.3)


def test_a_unit_longer_than_the_side_still_runs_once() -> None:
    unit = _Unit(2.0)

    assert repeat_for(0.5, unit) == Lap(100.0, 2.0)
    assert unit.runs == 1


async def test_a_coroutine_unit_repeats_the_same_way() -> None:
    unit = _Unit(0.25)

    lap = await repeat_for_async(1.0, unit.run_async)

    assert (unit.runs, lap.repeats, lap.seconds) == (4, 4, 1.0)


class _Bench:
    """Records the turns it is asked for: the side takes ``side_seconds[round]``, the baseline exactly as long as
    asked."""

    def __init__(self, side_seconds: dict[int, float]) -> None:
        self.side_seconds = side_seconds
        self.turns: list[str] = []

    def side(self, number: int) -> Lap:
        self.turns.append(f"side {number}")
        return Lap(10.0 * self.side_seconds[number], self.side_seconds[number])

    def baseline(self, number: int, seconds: float) -> Lap:
        self.turns.append(f"baseline {number} for {seconds:g}s")
        return Lap(100.0 * seconds, seconds)

    def settle(self) -> None:
        self.turns.append("settle")

    async def side_async(self, number: int) -> Lap:
        return self.side(number)

    async def baseline_async(self, number: int, seconds: float) -> Lap:
        return self.baseline(number, seconds)

    async def settle_async(self) -> None:
        self.settle()


def test_the_order_alternates_and_each_baseline_runs_as_long_as_the_side_it_is_paired_with() -> None:
    bench, shown = _Bench({1: 6.0, 2: 5.0, 3: 7.0, 4: 6.5}), list[Round]()

    comparison = interleave(4, side=bench.side, baseline=bench.baseline, settle=bench.settle, show=shown.append)

    assert [turn for turn in bench.turns if turn != "settle"] == [
        "side 1", "baseline 1 for 6s",  # the side first: the baseline runs as long as it just did
        "baseline 2 for 6s", "side 2",  # the baseline first: as long as the side took so far, on average
        "side 3", "baseline 3 for 7s",
        "baseline 4 for 6s", "side 4",  # (6 + 5 + 7) / 3
    ]  # fmt: skip
    assert bench.turns.count("settle") == 8  # before every turn, untimed
    assert [measured.side_first for measured in comparison.rounds] == [True, False, True, False]
    assert shown == list(comparison.rounds)
    assert comparison.ratios == [0.1, 0.1, 0.1, 0.1]


async def test_the_coroutine_runner_takes_the_same_turns() -> None:
    bench = _Bench({1: 2.0, 2: 3.0, 3: 1.0})

    comparison = await interleave_async(
        3, side=bench.side_async, baseline=bench.baseline_async, settle=bench.settle_async
    )

    assert [turn for turn in bench.turns if turn != "settle"] == [
        "side 1", "baseline 1 for 2s", "baseline 2 for 2s", "side 2", "side 3", "baseline 3 for 1s",
    ]  # fmt: skip
    assert [measured.baseline.seconds for measured in comparison.rounds] == [2.0, 2.0, 1.0]


def test_several_sides_in_a_round_take_turns_being_nearest_the_baseline() -> None:
    sides = ["bare", "/health/live", "/v1/malls"]

    assert in_round_order(sides, 1) == sides
    assert in_round_order(sides, 2) == ["/v1/malls", "/health/live", "bare"]
