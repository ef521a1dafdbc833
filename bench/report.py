"""A benchmark's results: one table, printed and saved as JSON and Markdown, with the facts needed to compare runs."""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from bench.cpu_time import CpuUse
    from bench.load import LoadResult

COLUMNS = (
    "target", "endpoint", "requests/s", "p50 ms", "p99 ms", "failures",
    "server CPU %", "others CPU %", "peak RSS MiB", "vs bare", "range", "vs bare by round", "goal", "met",
)  # fmt: skip
NUMERIC_COLUMNS = frozenset({2, 3, 4, 6, 7, 8, 9})
BUSY_MACHINE_PERCENT = 10.0
"""CPU taken by processes outside the benchmark above which a run is flagged as unreliable."""


@dataclass(frozen=True)
class Measurement:
    target: str
    endpoint: str
    load: LoadResult
    cpu: CpuUse
    peak_rss_mib: float
    minimum_ratio: float | None
    """Of the baseline's requests/s; ``None`` for the baseline itself and for figures shown for information."""
    baseline: bool = False
    rounds: tuple[float, ...] = ()
    """Requests/s of every round, in the order they ran; ``load`` is the median one."""
    paired_ratio: float | None = None
    """Median over rounds of this endpoint's requests/s over the baseline's in the same round."""
    round_ratios: tuple[float, ...] = ()
    """This endpoint's requests/s over the baseline's, round by round (``paired_ratio`` is their median)."""
    max_p99_ms: float | None = None
    """A latency goal: the median round's p99 at most this."""
    max_rss_mib: float | None = None
    """A memory goal: the server process's peak RSS at most this."""

    def ratio(self, baseline_rps: float) -> float:
        if self.paired_ratio is not None:
            return self.paired_ratio
        return self.load.requests_per_second / baseline_rps if baseline_rps else 0.0

    def met(self, baseline_rps: float) -> bool | None:
        """Fast enough *and* no failures: a server answering errors quickly has not met anything."""
        if self.minimum_ratio is None and self.max_p99_ms is None and self.max_rss_mib is None:
            return None
        fast = self.minimum_ratio is None or self.ratio(baseline_rps) >= self.minimum_ratio
        prompt = self.max_p99_ms is None or self.load.p99_ms <= self.max_p99_ms
        light = self.max_rss_mib is None or self.peak_rss_mib <= self.max_rss_mib
        return fast and prompt and light and self.load.failed == 0


@dataclass(frozen=True)
class Report:
    benchmark: str
    command: str
    started_at: str
    machine: dict[str, str]
    options: dict[str, Any]
    measurements: list[Measurement]

    @property
    def baseline_rps(self) -> float:
        baselines = [m for m in self.measurements if m.baseline]
        return baselines[0].load.requests_per_second if baselines else 0.0

    def missed(self) -> list[Measurement]:
        return [m for m in self.measurements if m.met(self.baseline_rps) is False]


def machine_facts(*, k6_version: str, cpu_placement: str) -> dict[str, str]:
    return {
        "cpus": str(os.cpu_count()),
        "cpu model": cpu_model(),
        "cpu placement": cpu_placement,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
        "k6": k6_version,
        "uvicorn": metadata.version("uvicorn"),
        "litestar": metadata.version("litestar"),
    }


class Laps:
    """How long each phase of a run took, in order: calling it with a name closes the phase begun at the previous
    call (or at its creation)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._clock = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = now - self._clock
        self._clock = now

    def with_total(self) -> dict[str, float]:
        return self.seconds | {"total": sum(self.seconds.values())}


def now_utc() -> str:
    return datetime.datetime.now(tz=datetime.UTC).isoformat(timespec="seconds")


def render_text(report: Report) -> str:
    return "\n".join([text_table(COLUMNS, _rows(report), NUMERIC_COLUMNS), "", *notes(report)])


def notes(report: Report) -> list[str]:
    """How to read the table, and what makes this run's numbers doubtful."""
    lines = [
        "vs bare: per round, this endpoint's requests/s over the bare app's in that round; the median of those "
        "(range: the lowest and highest round; by round: each, in the order run; the order of the endpoints "
        "reverses every other round).",
        "server CPU %: of the server's one CPU while k6 sent requests; well under 100 means something else "
        "(k6, the database, other processes) set the pace.",
        "others CPU %: taken by processes outside this benchmark during the run; it should be about 0.",
        "peak RSS MiB: the server process's high-water mark after all its runs, so one value per app.",
        "met: at least the goal's share of the bare app's requests/s (and p99 within its bound), no failures.",
    ]
    busy = [m for m in report.measurements if m.cpu.others_percent > BUSY_MACHINE_PERCENT]
    if busy:
        worst = max(m.cpu.others_percent for m in busy)
        lines.append(
            f"WARNING: other processes took up to {worst:.0f}% of a CPU during {len(busy)} run(s); "
            "rerun on a quiet machine before trusting these numbers."
        )
    failing = [f"{m.target} {m.endpoint}" for m in report.measurements if m.load.failed]
    if failing:
        lines.append(f"WARNING: failed requests in: {', '.join(failing)}.")
    missed = [f"{m.target} {m.endpoint}" for m in report.missed()]
    lines.append(f"goals missed: {', '.join(missed)}." if missed else "all goals met.")
    return lines


def render_markdown(report: Report) -> str:
    return markdown_page(
        benchmark=report.benchmark,
        started_at=report.started_at,
        command=report.command,
        table=markdown_table(COLUMNS, _rows(report), NUMERIC_COLUMNS),
        notes=notes(report),
        sections={"Machine": report.machine, "Options": report.options},
    )


def text_table(columns: Sequence[str], rows: Sequence[Sequence[str]], numeric: Collection[int]) -> str:
    """A table for the terminal: columns padded to their widest cell, numeric ones right-aligned, a rule under
    the header."""
    widths = [max(len(row[i]) for row in [columns, *rows]) for i in range(len(columns))]
    lines = [
        "  ".join(
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [columns, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]], numeric: Collection[int]) -> list[str]:
    """A Markdown table, numeric columns right-aligned."""
    return [
        "| " + " | ".join(columns) + " |",
        "| " + " | ".join("---:" if i in numeric else "---" for i in range(len(columns))) + " |",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def markdown_page(
    *,
    benchmark: str,
    started_at: str,
    command: str,
    table: list[str],
    notes: list[str],
    sections: dict[str, Mapping[str, object]],
) -> str:
    """A benchmark's Markdown page: title, command, table, notes, then a list for each section."""
    lines = [f"# `{benchmark}` benchmark, {started_at}", "", f"Command: `{command}`", "", *table, ""]
    lines += [f"- {line}" for line in notes]
    for title, values in sections.items():
        lines += ["", f"## {title}", "", *(f"- **{name}**: {value}" for name, value in values.items())]
    return "\n".join([*lines, ""])


def render_json(report: Report) -> str:
    baseline = report.baseline_rps
    document = {
        "benchmark": report.benchmark,
        "command": report.command,
        "started_at": report.started_at,
        "machine": report.machine,
        "options": report.options,
        "results": [
            {
                "target": m.target,
                "endpoint": m.endpoint,
                **asdict(m.load),
                "failure_rate": m.load.failure_rate,
                "server_cpu_percent": round(m.cpu.server_percent, 1),
                "others_cpu_percent": round(m.cpu.others_percent, 1),
                "peak_rss_mib": round(m.peak_rss_mib, 1),
                "ratio_to_bare": round(m.ratio(baseline), 3),
                "minimum_ratio": m.minimum_ratio,
                "max_p99_ms": m.max_p99_ms,
                "max_rss_mib": m.max_rss_mib,
                "baseline": m.baseline,
                "rounds_requests_per_second": [round(rps, 1) for rps in m.rounds],
                "rounds_ratio_to_bare": [round(ratio, 4) for ratio in m.round_ratios],
                "met": m.met(baseline),
            }
            for m in report.measurements
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def save(report: Report, output_dir: Path) -> list[Path]:
    return save_texts(
        output_dir, report.benchmark, report.started_at, {".json": render_json(report), ".md": render_markdown(report)}
    )


def save_texts(output_dir: Path, benchmark: str, started_at: str, texts: dict[str, str]) -> list[Path]:
    """Write ``<benchmark>-<start time><suffix>`` for each suffix and text; the paths written."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.fromisoformat(started_at).strftime("%Y%m%dT%H%M%SZ")
    saved = []
    for suffix, text in texts.items():
        path = output_dir / f"{benchmark}-{stamp}{suffix}"
        path.write_text(text, encoding="utf-8")
        saved.append(path)
    return saved


def _rows(report: Report) -> list[tuple[str, ...]]:
    baseline = report.baseline_rps
    return [
        (
            m.target,
            m.endpoint,
            f"{m.load.requests_per_second:,.0f}",
            f"{m.load.p50_ms:.2f}",
            f"{m.load.p99_ms:.2f}",
            _failures(m.load),
            f"{m.cpu.server_percent:.0f}",
            f"{m.cpu.others_percent:.0f}",
            f"{m.peak_rss_mib:.1f}",
            f"{m.ratio(baseline):.2f}x",
            f"{min(m.round_ratios):.2f}-{max(m.round_ratios):.2f}x" if m.round_ratios and not m.baseline else "",
            " / ".join(f"{ratio:.2f}" for ratio in m.round_ratios) if not m.baseline else "",
            _goal(m),
            {None: "-", True: "yes", False: "NO"}[m.met(baseline)],
        )
        for m in report.measurements
    ]


def _goal(measurement: Measurement) -> str:
    if measurement.baseline:
        return "baseline"
    goals = []
    if measurement.minimum_ratio is not None:
        goals.append(f">= {measurement.minimum_ratio:.2f}x")
    if measurement.max_p99_ms is not None:
        goals.append(f"p99 <= {measurement.max_p99_ms:g} ms")
    if measurement.max_rss_mib is not None:
        goals.append(f"peak RSS <= {measurement.max_rss_mib:g} MiB")
    return ", ".join(goals) or "for info"


def _failures(load: LoadResult) -> str:
    if load.failed == 0:
        return "0"
    return f"{load.failed} ({load.failure_rate:.2%}, {load.non_2xx} non-2xx)"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
