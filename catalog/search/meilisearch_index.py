"""The Meilisearch index of products: its name, primary key and settings, declared here and applied by the worker.

In parity with the Tantivy engine, as far as Meilisearch can express it: the same synonym table
(``catalog.search.synonyms``), the same searchable attributes in the same order of weight (description last),
the same Latin typo rule (1 edit from 5 letters, 2 from 9), products with every word first and those with some
still answering (``matchingStrategy: "frequency"`` in ``meilisearch_query``: the commonest word is dropped first),
then popularity, then the newer product (ids are UUIDv7), so ties are deterministic. What it cannot express:
a typo in a Korean word (its typo rule counts bytes, not syllables), and a literal word ranking above its synonym
(Meilisearch ranks a synonym as the word itself: meilisearch/meilisearch#3410).

Docs: reference/api/settings (each setting, and PATCH being partial), learn/relevancy/* (ranking rules, typo
tolerance, synonyms), learn/resources/language (localized attributes).
"""

from __future__ import annotations

import json
from typing import Any

from catalog.search.engine import MAX_FACET_VALUES, MAX_RESULTS
from catalog.search.synonyms import synonym_table

INDEX_UID = "products"
PRIMARY_KEY = "id"
SEARCHABLE_ATTRIBUTES = ["name", "category_names", "style_tags", "colors", "description"]
"""In the order of their weight (Meilisearch's attribute ranking rule): the name counts most, the description least."""
FILTERABLE_ATTRIBUTES = [
    "categories", "mall_id", "target_genders", "age_bands", "style_tags", "colors", "sizes", "price_from", "in_stock",
    "exclusive", "price_bucket",
]  # fmt: skip


def synonyms_setting() -> dict[str, list[str]]:
    """Every word of a synonym group finds every other (Meilisearch's mutual association, both ways)."""
    return {word: list(alternatives) for word, alternatives in sorted(synonym_table().items())}


INDEX_SETTINGS: dict[str, Any] = {
    "searchableAttributes": SEARCHABLE_ATTRIBUTES,
    "filterableAttributes": FILTERABLE_ATTRIBUTES,
    "sortableAttributes": ["id", "price_from", "popularity"],
    "rankingRules": ["words", "typo", "proximity", "attribute", "sort", "exactness", "popularity:desc", "id:desc"],
    "synonyms": synonyms_setting(),
    "typoTolerance": {
        "enabled": True,
        "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
        "disableOnWords": [],
        "disableOnAttributes": [],
    },
    "faceting": {"maxValuesPerFacet": MAX_FACET_VALUES, "sortFacetValuesBy": {"*": "count"}},
    "pagination": {"maxTotalHits": MAX_RESULTS},
    "localizedAttributes": [{"attributePatterns": SEARCHABLE_ATTRIBUTES, "locales": ["kor", "jpn", "eng"]}],
}
"""The index's settings as this code needs them; ``apply_settings`` makes the server's match."""

_UNORDERED_LISTS = {"filterableAttributes", "sortableAttributes"}
"""Settings whose order means nothing (Meilisearch may answer them sorted)."""
_OBJECTS_COMPARED_BY_FIELD = {"typoTolerance", "faceting", "pagination"}
"""Settings objects compared on the fields declared here only, so fields a newer Meilisearch adds are no change."""


def settings_changes(current: dict[str, Any]) -> dict[str, Any]:
    """The declared settings that differ from ``current`` (the server's), as a PATCH body; empty when in step."""
    return {
        name: declared
        for name, declared in INDEX_SETTINGS.items()
        if not _setting_matches(name, declared, current.get(name))
    }


def _setting_matches(name: str, declared: Any, actual: Any) -> bool:
    if name in _OBJECTS_COMPARED_BY_FIELD:
        return isinstance(actual, dict) and all(actual.get(key) == value for key, value in declared.items())
    if name in _UNORDERED_LISTS:
        return isinstance(actual, list) and _sorted(actual) == _sorted(declared)
    if name == "synonyms":
        return isinstance(actual, dict) and {word: sorted(alts) for word, alts in actual.items()} == declared
    if name == "localizedAttributes":
        return isinstance(actual, list) and [_rule(rule) for rule in actual] == [_rule(rule) for rule in declared]
    return bool(actual == declared)


def _sorted(values: list[Any]) -> list[str]:
    return sorted(json.dumps(value, sort_keys=True) for value in values)


def _rule(rule: Any) -> Any:
    if not isinstance(rule, dict):
        return rule
    return {"attributePatterns": rule.get("attributePatterns"), "locales": sorted(rule.get("locales") or [])}
