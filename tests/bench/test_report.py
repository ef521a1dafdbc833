"""A benchmark row's goal: fast enough, prompt enough, light enough, and without failures."""

from __future__ import annotations

import pytest

from bench.cpu_time import CpuUse
from bench.load import LoadResult
from bench.report import Measurement


def _row(*, p99_ms: float, peak_rss_mib: float, failed: int = 0) -> Measurement:
    return Measurement(
        target="shoa, cache off",
        endpoint="/v1/search?q=니트",
        load=LoadResult(requests=1000, requests_per_second=500.0, p50_ms=10.0, p99_ms=p99_ms, failed=failed, non_2xx=0),
        cpu=CpuUse(server_percent=99.0, others_percent=1.0),
        peak_rss_mib=peak_rss_mib,
        minimum_ratio=None,
        max_p99_ms=50.0,
        max_rss_mib=250.0,
    )


@pytest.mark.parametrize(
    ("p99_ms", "peak_rss_mib", "failed", "met"),
    [
        (40.0, 217.0, 0, True),
        (60.0, 217.0, 0, False),  # too slow
        (40.0, 260.0, 0, False),  # too big: the memory goal counts as much as the latency one
        (40.0, 217.0, 3, False),  # answering errors meets nothing
    ],
)
def test_a_row_meets_its_goals_only_when_it_meets_every_one(
    p99_ms: float, peak_rss_mib: float, failed: int, *, met: bool
) -> None:
    assert _row(p99_ms=p99_ms, peak_rss_mib=peak_rss_mib, failed=failed).met(baseline_rps=1000.0) is met
