"""A floor under the Tantivy engine's ranking (issue 16): a change that makes it rank the judged set worse fails here.

The set is loaded, indexed and judged as ``python -m bench search-quality --engine tantivy`` does it (the
partner sync, the worker's indexer, each query's first page of ten); the bench prints what each query got.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.search_quality import QualityReport, judge, load_relevance_set, render_text

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import Services

MIN_NDCG = 0.97
"""A little below the macro NDCG@10 reached (0.979); the issue's goal is 0.95."""


async def test_tantivy_ranks_the_judged_set_above_the_floor_and_answers_every_query_with_relevant_products(
    services: Services, tmp_path: Path
) -> None:
    results = await judge(
        load_relevance_set(), engine_name="tantivy", url=services.database_url, work_dir=tmp_path, seconds={}
    )
    report = QualityReport(command="pytest", started_at="", engine="tantivy", options={}, seconds={}, results=results)

    assert report.macro_ndcg() >= MIN_NDCG, render_text(report)
    assert report.empty() == [], render_text(report)
