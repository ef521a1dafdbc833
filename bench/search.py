"""``python -m bench search``: the Tantivy engine over 100,000 products, beside the bare app.

The catalog is the demo generator's (Korean names, options, prices, stock), written through the partner sync,
and indexed as in production: a ``shoa worker`` drains the search outbox into an empty index
(``bench.index.fill_index``), then stops, so the index is still while it is measured. Each query is a
shopper's: Korean words (two words, an unspaced compound, a typo), filters, a sort, a second page, and the facet
counts every search answers with. Shoa runs twice: with its production defaults (a 5 s per-process cache of
public answers, so a popular search is answered from memory) and with that cache off, where every request asks
the engine and checks the page against the database. The goals are judged on the uncached runs: p99 <= 50 ms at
16 connections, and the API's peak RSS (the table's column) at most 250 MiB.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from bench.cpus import plan_cpus
from bench.http import BARE, Endpoint, Target, run_targets, seed_catalog
from bench.index import fill_index, tantivy_variables

if TYPE_CHECKING:
    import argparse


MAX_P99_MS = 50.0
MAX_RSS_MIB = 250.0
"""The API process's peak RSS, whatever the catalog size (issue 16)."""
SHOA_APP = "shoa_api.app:create_app_from_environment"
QUERIES = (
    # Two words, ranked by relevance: products holding both first.
    {"q": "린넨 셔츠"},
    # Linen tops for women: a two-syllable word (part of compounds such as 린넨셔츠), category and gender.
    {"q": "린넨", "category": "상의", "gender": "female"},
    # A broad word matching thousands of products, in stock only, under 50,000 won.
    {"q": "원피스", "in_stock": "true", "price_max": "50000"},
    # Colour and item, cheapest first.
    {"q": "블랙 슬랙스", "sort": "price_asc"},
    # The second page of a broad word.
    {"q": "니트", "page": "2"},
    # Typed without its space (products say 롱 스커트).
    {"q": "롱스커트"},
    # One syllable wrong (블라우스).
    {"q": "블라우즈"},
    # Browsing without words: a category and a colour, most popular first.
    {"category": "아우터", "color": "블랙", "sort": "popularity"},
)
CACHED_QUERIES = QUERIES[:2]
"""Answered from the public cache, every query costs the same: two show it."""


def _path(query: dict[str, str]) -> str:
    return f"/v1/search?{urlencode(query)}"


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="shoa-bench-search-") as tmp_name:
        work_dir = Path(tmp_name)
        engine = tuple(tantivy_variables(work_dir / "index").items())
        cached = Target(
            "shoa",
            SHOA_APP,
            tuple(Endpoint(_path(query), minimum_ratio=None, lists_items=True) for query in CACHED_QUERIES),
            variables=engine,
        )
        uncached = Target(
            "shoa, cache off",
            SHOA_APP,
            tuple(
                Endpoint(
                    _path(query), minimum_ratio=None, lists_items=True, max_p99_ms=MAX_P99_MS, max_rss_mib=MAX_RSS_MIB
                )
                for query in QUERIES
            ),
            variables=(*engine, ("SHOA_PUBLIC_CACHE_SECONDS", "0")),
        )

        def prepare(variables: dict[str, str]) -> None:
            seed_catalog(variables, args.products)
            fill_index(variables | dict(engine), work_dir=work_dir, cpus=plan_cpus().server)

        return run_targets(args, benchmark="search", targets=(BARE, cached, uncached), prepare=prepare)
