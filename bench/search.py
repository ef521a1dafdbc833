"""``python -m bench search``: the PostgreSQL search engine over 100,000 products, beside the bare app.

The catalog is the demo generator's (Korean names, options, prices, stock), written through the partner sync.
Each query is a shopper's: Korean words, two filters, and the facet counts every search answers with. Shoa runs
twice: with its production defaults (a 5 s per-process cache of public answers, so a popular search is
answered from memory) and with that cache off, where every request runs the search in PostgreSQL. The goal,
p99 <= 50 ms at 16 connections, is judged on the uncached runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from bench.http import BARE, Endpoint, Target, run_targets, seed_catalog

if TYPE_CHECKING:
    import argparse


MAX_P99_MS = 50.0
QUERIES = (
    # Linen tops for women: a two-syllable Korean word (part of compounds such as 린넨셔츠), category and gender.
    {"q": "린넨", "category": "상의", "gender": "female"},
    # A broad word matching thousands of products, in stock only, under 50,000 won.
    {"q": "원피스", "in_stock": "true", "price_max": "50000"},
)


def _path(query: dict[str, str]) -> str:
    return f"/v1/search?{urlencode(query)}"


SEARCH_ENDPOINTS = tuple(Endpoint(_path(query), minimum_ratio=None, lists_items=True) for query in QUERIES)
SHOA_CACHED = Target("shoa", "shoa_api.app:create_app_from_environment", SEARCH_ENDPOINTS)
SHOA_UNCACHED = Target(
    "shoa, cache off",
    "shoa_api.app:create_app_from_environment",
    tuple(Endpoint(_path(query), minimum_ratio=None, lists_items=True, max_p99_ms=MAX_P99_MS) for query in QUERIES),
    variables=(("SHOA_PUBLIC_CACHE_SECONDS", "0"),),
)


def run(args: argparse.Namespace) -> int:
    def prepare(variables: dict[str, str]) -> None:
        seed_catalog(variables, args.products)

    return run_targets(args, benchmark="search", targets=(BARE, SHOA_CACHED, SHOA_UNCACHED), prepare=prepare)
