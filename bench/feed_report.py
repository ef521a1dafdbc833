"""The ``feed-quality`` report: one row per segment, printed and saved as JSON and Markdown beside the other benches'.

Its own table writer: the load benchmarks' report (``bench/report.py``) is shaped around requests per second.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from bench.report import cpu_model, markdown_page, markdown_table, save_texts, text_table

if TYPE_CHECKING:
    from pathlib import Path

    from bench.feed_metrics import MallMix

FEED = "feed"
NEWEST = "newest"
POPULARITY = "popularity"
SEGMENT_TOP = "segment top"
TRUE_TASTE = "true taste"
BASELINES = (NEWEST, POPULARITY)
MAX_MALL_SHARE = 0.20


@dataclass(frozen=True)
class SegmentResult:
    segment: str
    shoppers: int
    events: int
    """Sent to the API by this segment's shoppers (views, clicks, likes, carts)."""
    purchases: int
    distinct_purchased: int
    ndcg: dict[str, float]
    """NDCG@k per ranking: the feed, the baselines and the segment's own top products (for information)."""
    mix: dict[str, MallMix]
    """Mall mix of each ranking's first items."""
    feed_items: int
    gap: tuple[float, float]
    """NDCG of the feed minus the best baseline's: 90% interval over resamples of the held-out purchases."""
    feed_ms: list[float] = field(default_factory=list)
    """Each feed page's response time, in the order read."""
    findings: list[str] = field(default_factory=list)
    """What the feed showed that no shopper of the segment should see (wrong gender, sold out, repeats)."""
    explained: list[dict[str, Any]] = field(default_factory=list)
    """The feed's items in order with their score parts (``explain=true``): why each is where it is."""

    def beats_baselines(self) -> bool:
        return all(self.ndcg[FEED] > self.ndcg[baseline] for baseline in BASELINES)

    def malls_spread(self) -> bool:
        return self.feed_items > 0 and self.mix[FEED].max_share <= MAX_MALL_SHARE


@dataclass(frozen=True)
class FeedQualityReport:
    command: str
    started_at: str
    options: dict[str, Any]
    seconds: dict[str, float]
    """Wall time of each phase."""
    results: list[SegmentResult]
    k: int
    first_items: int

    def missed(self) -> list[str]:
        return [r.segment for r in self.results if not (r.beats_baselines() and r.malls_spread())]


def machine_facts() -> dict[str, str]:
    return {
        "cpu model": cpu_model(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
    }


def columns(report: FeedQualityReport) -> tuple[str, ...]:
    return (
        "segment", "shoppers", "events", "buys (distinct)", FEED, NEWEST, POPULARITY, "feed - best (90%)",
        SEGMENT_TOP, TRUE_TASTE, "items", "malls", "top-3 mall share", "max mall share", "met",
    )  # fmt: skip


NUMERIC = frozenset(range(1, 14))


def rows(report: FeedQualityReport) -> list[tuple[str, ...]]:
    return [
        (
            r.segment,
            str(r.shoppers),
            f"{r.events:,}",
            f"{r.purchases} ({r.distinct_purchased})",
            f"{r.ndcg[FEED]:.3f}",
            f"{r.ndcg[NEWEST]:.3f}",
            f"{r.ndcg[POPULARITY]:.3f}",
            f"[{r.gap[0]:+.3f}, {r.gap[1]:+.3f}]",
            f"{r.ndcg[SEGMENT_TOP]:.3f}",
            f"{r.ndcg[TRUE_TASTE]:.3f}",
            str(r.feed_items),
            str(r.mix[FEED].malls),
            f"{r.mix[FEED].top3_share:.0%}",
            f"{r.mix[FEED].max_share:.0%}",
            _met(r),
        )
        for r in report.results
    ]


def notes(report: FeedQualityReport) -> list[str]:
    lines = [
        f"feed, {NEWEST}, {POPULARITY}, {SEGMENT_TOP}: NDCG@{report.k} of each ranking's first {report.k} "
        "products against the segment's held-out purchases (graded by how many times bought). The baselines rank "
        "the products the feed may show: on show, in stock, for the segment's gender (anonymous: women), spread by "
        "the feed's own rules (at most 2 of a mall and 4 of a top-level category in any 10).",
        "newest: newest first (product ids are time-ordered). popularity: every event of every segment, weighted "
        "as the API weighs them. segment top: the segment's own events alone (for information: no goal).",
        "true taste: the products ranked by what the segment's purchases are drawn from (the population's hidden "
        "taste and appeal), spread by the feed's own rules: the best a feed could do, for information. "
        "Where even it does not beat popularity, the held-out purchases are too few to tell rankings apart.",
        "feed - best (90%): the feed's NDCG minus the better baseline's, over resamples of the held-out "
        "purchases; an interval across 0 is within the luck of which products were bought.",
        f"items: how many the feed listed (of {report.first_items} read); malls, top-3 mall share, max mall share: "
        "over those.",
        f"met: the feed beats both baselines on NDCG@{report.k} and no mall has more than "
        f"{MAX_MALL_SHARE:.0%} of the first {report.first_items}.",
    ]
    lines += [f"{r.segment}: {finding}" for r in report.results for finding in r.findings]
    missed = report.missed()
    lines.append(f"goals missed by: {', '.join(missed)}." if missed else "all goals met.")
    return lines


def render_text(report: FeedQualityReport) -> str:
    timing = ", ".join(f"{name} {seconds:.0f}s" for name, seconds in report.seconds.items())
    table = text_table(columns(report), rows(report), NUMERIC)
    return "\n".join([table, "", *notes(report), f"time: {timing}"])


def render_markdown(report: FeedQualityReport) -> str:
    return markdown_page(
        benchmark="feed-quality",
        started_at=report.started_at,
        command=report.command,
        table=markdown_table(columns(report), rows(report), NUMERIC),
        notes=notes(report),
        sections={
            "Time": {name: f"{seconds:.1f} s" for name, seconds in report.seconds.items()},
            "Machine": machine_facts(),
            "Options": report.options,
        },
    )


def render_json(report: FeedQualityReport) -> str:
    document = {
        "benchmark": "feed-quality",
        "command": report.command,
        "started_at": report.started_at,
        "machine": machine_facts(),
        "options": report.options,
        "seconds": {name: round(seconds, 1) for name, seconds in report.seconds.items()},
        "k": report.k,
        "first_items": report.first_items,
        "results": [
            {
                **asdict(r),
                "ndcg": {name: round(value, 4) for name, value in r.ndcg.items()},
                "feed_ms": [round(ms, 1) for ms in r.feed_ms],
                "beats_baselines": r.beats_baselines(),
                "malls_spread": r.malls_spread(),
            }
            for r in report.results
        ],
        "missed": report.missed(),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


SEED_SLACK = 0.01
"""No seed's feed may be below either baseline by more than this."""


@dataclass(frozen=True)
class SegmentSummary:
    """One segment over every seed: the means, and the worst seed's margin."""

    segment: str
    ndcg: dict[str, float]
    """Mean NDCG@k per ranking over the seeds."""
    worst_margin: float
    """The lowest, over seeds, of the feed's NDCG minus the better baseline's."""
    seeds: int

    @property
    def ceiling_share(self) -> float:
        """The feed's mean against the true taste's: how much of the ceiling it reaches."""
        return self.ndcg[FEED] / self.ndcg[TRUE_TASTE] if self.ndcg[TRUE_TASTE] > 0 else 0.0

    def met(self) -> bool:
        beats = all(self.ndcg[FEED] > self.ndcg[baseline] for baseline in BASELINES)
        return beats and self.worst_margin >= -SEED_SLACK


@dataclass(frozen=True)
class FeedQualitySeries:
    """The benchmark over several seeds: each seed's report, and the segments' summaries over them."""

    command: str
    started_at: str
    reports: list[FeedQualityReport]

    def summaries(self) -> list[SegmentSummary]:
        segments = [r.segment for r in self.reports[0].results]
        summaries = []
        for segment in segments:
            results = [next(r for r in report.results if r.segment == segment) for report in self.reports]
            names = results[0].ndcg.keys()
            summaries.append(
                SegmentSummary(
                    segment=segment,
                    ndcg={name: sum(r.ndcg[name] for r in results) / len(results) for name in names},
                    worst_margin=min(r.ndcg[FEED] - max(r.ndcg[b] for b in BASELINES) for r in results),
                    seeds=len(results),
                )
            )
        return summaries


SUMMARY_COLUMNS = (
    "segment", FEED, NEWEST, POPULARITY, "worst seed: feed - best", SEGMENT_TOP, TRUE_TASTE, "share of ceiling", "met"
)  # fmt: skip


def summary_rows(series: FeedQualitySeries) -> list[tuple[str, ...]]:
    return [
        (
            s.segment,
            f"{s.ndcg[FEED]:.3f}",
            f"{s.ndcg[NEWEST]:.3f}",
            f"{s.ndcg[POPULARITY]:.3f}",
            f"{s.worst_margin:+.3f}",
            f"{s.ndcg[SEGMENT_TOP]:.3f}",
            f"{s.ndcg[TRUE_TASTE]:.3f}",
            f"{s.ceiling_share:.0%}",
            "yes" if s.met() else "NO",
        )
        for s in series.summaries()
    ]


def summary_notes(series: FeedQualityReport | FeedQualitySeries) -> list[str]:
    if isinstance(series, FeedQualityReport):
        return []
    seeds = ", ".join(str(report.options["seed"]) for report in series.reports)
    missed = [s.segment for s in series.summaries() if not s.met()]
    return [
        f"Means over {len(series.reports)} seeds ({seeds}) of NDCG@{series.reports[0].k}; every baseline, and the "
        "true taste, spread by the feed's own rules (at most 2 of a mall and 4 of a top-level category in any 10).",
        "worst seed: the lowest, over the seeds, of the feed's NDCG minus the better baseline's. share of ceiling: "
        "the feed's mean over the true taste's.",
        f"met: the feed's mean beats both baselines' and no seed is below either by more than {SEED_SLACK}.",
        f"goals missed by: {', '.join(missed)}." if missed else "all goals met.",
    ]


def render_series_text(series: FeedQualitySeries) -> str:
    table = text_table(SUMMARY_COLUMNS, summary_rows(series), frozenset(range(1, 8)))
    return "\n".join([table, "", *summary_notes(series)])


def render_series_markdown(series: FeedQualitySeries) -> str:
    first = series.reports[0]
    sections: dict[str, dict[str, object]] = {
        f"Seed {report.options['seed']}": {
            row[0]: " / ".join(f"{name} {cell}" for name, cell in zip(columns(report)[1:], row[1:], strict=True))
            for row in rows(report)
        }
        for report in series.reports
    }
    return markdown_page(
        benchmark="feed-quality",
        started_at=series.started_at,
        command=series.command,
        table=markdown_table(SUMMARY_COLUMNS, summary_rows(series), frozenset(range(1, 8))),
        notes=summary_notes(series) + notes(first)[:4],
        sections={**sections, "Machine": machine_facts(), "Options": {k: v for k, v in first.options.items()
                                                                      if k != "seed"}},
    )  # fmt: skip


def save(series: FeedQualitySeries, output_dir: Path) -> list[Path]:
    document = {
        "benchmark": "feed-quality",
        "command": series.command,
        "started_at": series.started_at,
        "summaries": [
            {**asdict(s), "ndcg": {k: round(v, 4) for k, v in s.ndcg.items()}, "ceiling_share": round(s.ceiling_share, 4),
             "met": s.met()}
            for s in series.summaries()
        ],
        "seeds": [json.loads(render_json(report)) for report in series.reports],
    }  # fmt: skip
    texts = {".json": json.dumps(document, indent=2, ensure_ascii=False) + "\n", ".md": render_series_markdown(series)}
    return save_texts(output_dir, "feed-quality", series.started_at, texts)


def _met(result: SegmentResult) -> str:
    missing = []
    if not result.beats_baselines():
        missing.append("NDCG")
    if not result.malls_spread():
        missing.append("malls")
    return "yes" if not missing else "NO: " + ", ".join(missing)
