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
        "the products the feed may show: on show, in stock, for the segment's gender (anonymous: women).",
        "newest: newest first (product ids are time-ordered). popularity: every event of every segment, weighted "
        "as the API weighs them. segment top: the segment's own events alone (for information: no goal).",
        "true taste: the products ranked by what the segment's purchases are drawn from (the population's hidden "
        "taste and appeal), spread over malls by the feed's own rule: the best a feed could do, for information. "
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


def save(report: FeedQualityReport, output_dir: Path) -> list[Path]:
    texts = {".json": render_json(report), ".md": render_markdown(report)}
    return save_texts(output_dir, "feed-quality", report.started_at, texts)


def _met(result: SegmentResult) -> str:
    missing = []
    if not result.beats_baselines():
        missing.append("NDCG")
    if not result.malls_spread():
        missing.append("malls")
    return "yes" if not missing else "NO: " + ", ".join(missing)
