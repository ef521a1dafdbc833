"""Interleaved rounds: a measured side beside its baseline, each round's baseline running as long as the side.

Issue 20: ``bench sync`` timed its raw COPY once, for about a second, and that second swung the COPY between
45,000 and 79,000 rows/s from run to run while the API's own rate held, so the ratio swung with it. Here both
sides run in every round, back to back, and the baseline repeats its unit of work (a COPY, a pass over the
baskets …) until it has run as long as the side did, so both are timed over the same stretch of the machine's
mood. The order alternates (odd rounds the side first, even rounds the baseline first, sized by the side's mean
time in the rounds before), so a machine that speeds up or slows down during the run favours neither. The ratio
reported is the median of the rounds' own ratios, with every round's figures beside it so the spread shows.

:func:`interleave` (and :func:`interleave_async`) run one side against one baseline; a bench with several sides
against one baseline lap (``bench http``) builds its :class:`Comparison` from :class:`Round` values itself.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

Item = TypeVar("Item")


@dataclass(frozen=True)
class Lap:
    """One side's turn in a round: the work it did (rows, requests, messages …) in seconds of timed work."""

    work: float
    seconds: float
    repeats: int = 1
    """Units of work run one after another to fill the turn (1 for a side that does its work once)."""

    @property
    def rate(self) -> float:
        return self.work / self.seconds if self.seconds > 0 else 0.0

    def __add__(self, other: Lap) -> Lap:
        return Lap(self.work + other.work, self.seconds + other.seconds, self.repeats + other.repeats)


def repeat_for(seconds: float, unit: Callable[[], Lap]) -> Lap:
    """``unit`` again and again until the seconds the units timed add up to ``seconds`` (once at least); untimed
    preparation inside ``unit`` (making rows, putting stock back) does not count."""
    lap = unit()
    while lap.seconds < seconds:
        lap += unit()
    return lap


async def repeat_for_async(seconds: float, unit: Callable[[], Awaitable[Lap]]) -> Lap:
    """:func:`repeat_for` for a unit that is a coroutine."""
    lap = await unit()
    while lap.seconds < seconds:
        lap += await unit()
    return lap


@dataclass(frozen=True)
class Round:
    number: int
    side: Lap
    baseline: Lap
    side_first: bool = True

    @property
    def ratio(self) -> float:
        """The side's rate over the baseline's, both measured in this round."""
        return self.side.rate / self.baseline.rate if self.baseline.rate > 0 else 0.0

    def describe(self, *, side: str, baseline: str, unit: str) -> str:
        """One line for the terminal: both rates, how long each ran, and the round's ratio."""
        first = "" if self.side_first else ", baseline first"
        repeats = f", {self.baseline.repeats} runs" if self.baseline.repeats > 1 else ""
        return (
            f"round {self.number}{first}: {side} {self.side.rate:,.0f} {unit} in {self.side.seconds:.1f}s; "
            f"{baseline} {self.baseline.rate:,.0f} {unit} in {self.baseline.seconds:.1f}s{repeats}; "
            f"ratio {self.ratio:.3f}x"
        )


@dataclass(frozen=True)
class Comparison:
    """A side against its baseline over rounds: the median of the rounds' own ratios, and every round."""

    rounds: tuple[Round, ...]

    @property
    def ratios(self) -> list[float]:
        return [measured.ratio for measured in self.rounds]

    @property
    def ratio(self) -> float:
        """The median of the rounds' own ratios: neither the ratio of the median rates nor that of the totals, so
        a round in which the machine was busy for one side moves it no more than any other single round."""
        return statistics.median(self.ratios) if self.rounds else 0.0

    @property
    def low(self) -> float:
        return min(self.ratios, default=0.0)

    @property
    def high(self) -> float:
        return max(self.ratios, default=0.0)

    @property
    def side_rates(self) -> list[float]:
        return [measured.side.rate for measured in self.rounds]

    @property
    def baseline_rates(self) -> list[float]:
        return [measured.baseline.rate for measured in self.rounds]

    @property
    def side_rate(self) -> float:
        """The median round's rate of the side (for the table; the ratio is not made from it)."""
        return statistics.median(self.side_rates) if self.rounds else 0.0

    @property
    def baseline_rate(self) -> float:
        return statistics.median(self.baseline_rates) if self.rounds else 0.0

    def spread(self, digits: int = 3) -> str:
        """The lowest and the highest round's ratio, as ``0.190-0.240x``."""
        return f"{self.low:.{digits}f}-{self.high:.{digits}f}x"

    def per_round(self, digits: int = 3) -> str:
        """Every round's ratio, in the order they ran."""
        return listed(self.ratios, digits=digits, suffix="x")

    def as_json(self) -> dict[str, Any]:
        return {
            "ratio": round(self.ratio, 4),
            "low": round(self.low, 4),
            "high": round(self.high, 4),
            "rounds": [
                {
                    "round": measured.number,
                    "side_first": measured.side_first,
                    "ratio": round(measured.ratio, 4),
                    "side": _lap_json(measured.side),
                    "baseline": _lap_json(measured.baseline),
                }
                for measured in self.rounds
            ],
        }


def listed(values: Sequence[float], *, digits: int = 0, suffix: str = "") -> str:
    """Each round's figure, in the order they ran, for a table cell: ``3,697 / 2,928 / 1,883``."""
    return " / ".join(f"{value:,.{digits}f}{suffix}" for value in values)


def compare(side: Sequence[Lap], baseline: Sequence[Lap]) -> Comparison:
    """Laps taken round by round in the order :func:`side_goes_first` gives, paired into a comparison."""
    return Comparison(
        tuple(
            Round(number, side_lap, baseline_lap, side_goes_first(number))
            for number, (side_lap, baseline_lap) in enumerate(zip(side, baseline, strict=True), start=1)
        )
    )


def side_goes_first(number: int) -> bool:
    """Round 1, 3, 5 … run the side first; round 2, 4 … the baseline first."""
    return number % 2 == 1


def in_round_order(items: Sequence[Item], number: int) -> list[Item]:
    """``items`` as given in odd rounds and reversed in even ones: for benches that run several sides in a round,
    so that none is always the nearest to the baseline's turn."""
    return list(items) if side_goes_first(number) else list(reversed(items))


def interleave(
    rounds: int,
    *,
    side: Callable[[int], Lap],
    baseline: Callable[[int, float], Lap],
    settle: Callable[[], object] | None = None,
    show: Callable[[Round], object] | None = None,
) -> Comparison:
    """``rounds`` rounds of ``side(number)`` and ``baseline(number, seconds)``, which must run (repeating its unit,
    say with :func:`repeat_for`) for at least ``seconds``: the side's time in this round when the side went
    first, its mean time in the rounds before otherwise (:func:`expected_seconds`). ``settle`` runs, untimed,
    before every turn (a checkpoint, so neither side writes out the other's pages); ``show`` gets each round as
    it ends."""
    done: list[Round] = []
    for number in range(1, rounds + 1):
        side_first = side_goes_first(number) or not done
        if side_first:
            _call(settle)
            side_lap = side(number)
            _call(settle)
            baseline_lap = baseline(number, side_lap.seconds)
        else:
            _call(settle)
            baseline_lap = baseline(number, expected_seconds(done))
            _call(settle)
            side_lap = side(number)
        done.append(Round(number, side_lap, baseline_lap, side_first))
        _call(show, done[-1])
    return Comparison(tuple(done))


async def interleave_async(
    rounds: int,
    *,
    side: Callable[[int], Awaitable[Lap]],
    baseline: Callable[[int, float], Awaitable[Lap]],
    settle: Callable[[], Awaitable[object]] | None = None,
    show: Callable[[Round], object] | None = None,
) -> Comparison:
    """:func:`interleave` for coroutines."""
    done: list[Round] = []
    for number in range(1, rounds + 1):
        side_first = side_goes_first(number) or not done
        if side_first:
            await _settle(settle)
            side_lap = await side(number)
            await _settle(settle)
            baseline_lap = await baseline(number, side_lap.seconds)
        else:
            await _settle(settle)
            baseline_lap = await baseline(number, expected_seconds(done))
            await _settle(settle)
            side_lap = await side(number)
        done.append(Round(number, side_lap, baseline_lap, side_first))
        _call(show, done[-1])
    return Comparison(tuple(done))


def expected_seconds(done: Sequence[Round]) -> float:
    """How long the side will take, for a baseline that must go first: its mean over the rounds so far (one
    round alone may have met a busy or a quiet moment of the machine)."""
    return statistics.fmean(measured.side.seconds for measured in done) if done else 0.0


def _call(function: Callable[..., object] | None, *args: object) -> None:
    if function is not None:
        function(*args)


async def _settle(settle: Callable[[], Awaitable[object]] | None) -> None:
    if settle is not None:
        await settle()


def _lap_json(lap: Lap) -> dict[str, float]:
    return {"work": lap.work, "seconds": round(lap.seconds, 3), "rate": round(lap.rate, 1), "repeats": lap.repeats}
