"""``POST /indexes/{uid}/search``: the request's parameters, then filtering, ranking, pagination and facets.

Docs: reference/api/search. Parameters are checked as Meilisearch's deserializer checks them (unknown
parameter → ``bad_request``; wrong type → the parameter's own ``invalid_search_*`` code). The answer has
``hits``, ``query``, ``processingTimeMs`` and either ``limit``/``offset``/``estimatedTotalHits`` or, when
``page`` or ``hitsPerPage`` is given, ``hitsPerPage``/``page``/``totalPages``/``totalHits``; then
``facetDistribution`` and ``facetStats`` when ``facets`` is given. Neither total exceeds ``maxTotalHits``, no hit
lies beyond it (``offset`` and ``limit`` are capped), and the ``limit`` echoed is the one requested, as
Meilisearch does. ``facets`` must name filterable attributes (``invalid_search_facets``); ``sort`` needs
sortable attributes and the ``sort`` ranking rule (``invalid_search_sort``).

``vector`` and ``hybrid`` (semantic search) are refused; ``locales`` is checked and has no effect, as this
tokenizer does not depend on the language; ``showRankingScoreDetails`` is accepted and ignored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.meilisearch.documents import covers, leaf_values, lookup
from tests.meilisearch.errors import (
    JsonObject,
    MeiliError,
    check_object_fields,
    invalid_value,
    invalid_value_type,
    unknown_value,
)
from tests.meilisearch.filter_matching import check_filterable, matches
from tests.meilisearch.filters import parse_filter
from tests.meilisearch.formatting import format_hit
from tests.meilisearch.matching import parse_query
from tests.meilisearch.ranking import RankedDocument, rank
from tests.meilisearch.settings import check_locales

if TYPE_CHECKING:
    from tests.meilisearch.store import Index

_PARAMETERS: dict[str, tuple[str, str]] = {
    # name: (expected JSON kind, error code)
    "q": ("string", "invalid_search_q"),
    "vector": ("any", "invalid_search_vector"),
    "offset": ("integer", "invalid_search_offset"),
    "limit": ("integer", "invalid_search_limit"),
    "page": ("integer", "invalid_search_page"),
    "hitsPerPage": ("integer", "invalid_search_hits_per_page"),
    "attributesToRetrieve": ("strings", "invalid_search_attributes_to_retrieve"),
    "retrieveVectors": ("boolean", "invalid_search_retrieve_vectors"),
    "attributesToCrop": ("strings", "invalid_search_attributes_to_crop"),
    "cropLength": ("integer", "invalid_search_crop_length"),
    "attributesToHighlight": ("strings", "invalid_search_attributes_to_highlight"),
    "showMatchesPosition": ("boolean", "invalid_search_show_matches_position"),
    "showRankingScore": ("boolean", "invalid_search_show_ranking_score"),
    "showRankingScoreDetails": ("boolean", "invalid_search_show_ranking_score_details"),
    "filter": ("any", "invalid_search_filter"),
    "sort": ("strings", "invalid_search_sort"),
    "distinct": ("string", "invalid_search_distinct"),
    "facets": ("strings", "invalid_search_facets"),
    "highlightPreTag": ("string", "invalid_search_highlight_pre_tag"),
    "highlightPostTag": ("string", "invalid_search_highlight_post_tag"),
    "cropMarker": ("string", "invalid_search_crop_marker"),
    "matchingStrategy": ("string", "invalid_search_matching_strategy"),
    "attributesToSearchOn": ("strings", "invalid_search_attributes_to_search_on"),
    "rankingScoreThreshold": ("number", "invalid_search_ranking_score_threshold"),
    "locales": ("strings", "invalid_search_locales"),
    "hybrid": ("any", "invalid_search_hybrid_query"),
}
_EXPECTED = {"string": "a string", "integer": "a positive integer", "strings": "an array", "boolean": "a boolean"}
_MATCHING_STRATEGIES = ["last", "all", "frequency"]
_DEFAULTS: JsonObject = {
    "offset": 0,
    "limit": 20,
    "cropLength": 10,
    "cropMarker": "…",
    "highlightPreTag": "<em>",
    "highlightPostTag": "</em>",
    "matchingStrategy": "last",
}


def _check_parameter(name: str, value: object) -> None:
    kind, code = _PARAMETERS[name]
    path = f".{name}"
    valid = {
        "any": True,
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "strings": isinstance(value, list),
    }[kind]
    if not valid:
        raise invalid_value_type(path, _EXPECTED.get(kind, "a number"), value, code)
    if kind == "strings" and isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise invalid_value_type(f"{path}[{index}]", "a string", item, code)


def parse_parameters(body: object) -> JsonObject:
    if not isinstance(body, dict):
        raise invalid_value_type("", "an object", body, "bad_request")
    check_object_fields(body, list(_PARAMETERS), code="bad_request")
    for name, value in body.items():
        if value is not None:
            _check_parameter(name, value)
    parameters = {**_DEFAULTS, **{name: value for name, value in body.items() if value is not None}}
    if parameters["matchingStrategy"] not in _MATCHING_STRATEGIES:
        raise unknown_value(
            parameters["matchingStrategy"],
            ".matchingStrategy",
            _MATCHING_STRATEGIES,
            "invalid_search_matching_strategy",
        )
    threshold = parameters.get("rankingScoreThreshold")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise invalid_value(
            ".rankingScoreThreshold",
            "the value of `rankingScoreThreshold` is invalid, expected a float between `0.0` and `1.0`.",
            "invalid_search_ranking_score_threshold",
        )
    if "locales" in parameters:
        check_locales(".locales", parameters["locales"], "invalid_search_locales")
    for semantic in ("vector", "hybrid"):
        if semantic in parameters:
            raise MeiliError(_PARAMETERS[semantic][1], "Semantic and hybrid search are not supported by this stand-in.")
    return parameters


def is_filterable(settings: JsonObject, attribute: str) -> bool:
    for rule in settings["filterableAttributes"]:
        if isinstance(rule, str):
            if covers(attribute, rule):
                return True
            continue
        features = rule.get("features", {}).get("filter", {})
        enabled = features.get("equality", True) or features.get("comparison", False)
        if enabled and any(_glob(attribute, pattern) for pattern in rule["attributePatterns"]):
            return True
    return False


def _glob(attribute: str, pattern: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*") and pattern.endswith("*"):
        return pattern[1:-1] in attribute
    if pattern.startswith("*"):
        return attribute.endswith(pattern[1:])
    if pattern.endswith("*"):
        return attribute.startswith(pattern[:-1])
    return covers(attribute, pattern)


def filterable_names(settings: JsonObject) -> list[str]:
    names: list[str] = []
    for rule in settings["filterableAttributes"]:
        names.extend([rule] if isinstance(rule, str) else rule["attributePatterns"])
    return names


def _sort_criteria(sort: list[str] | None, settings: JsonObject) -> list[tuple[str, bool]]:
    criteria: list[tuple[str, bool]] = []
    for expression in sort or []:
        attribute, _, order = expression.rpartition(":")
        if not attribute or order not in {"asc", "desc"}:
            raise MeiliError(
                "invalid_search_sort",
                "Invalid syntax for the sort parameter: expected expression ending by `:asc` or `:desc`, found "
                f"`{expression}`.",
            )
        if attribute == "_geo":
            raise MeiliError(
                "invalid_search_sort",
                "`_geo` is a reserved keyword and thus can't be used as a sort expression. Use the "
                "_geoPoint(latitude, longitude) built-in rule to sort on _geo field coordinates.",
            )
        if attribute in {"_geoDistance", "_geoRadius", "_geoBoundingBox"} or attribute.startswith("_geoPoint("):
            raise MeiliError(
                "invalid_search_sort",
                f"`{attribute}` is a reserved keyword and thus can't be used as a sort expression.",
            )
        sortable = settings["sortableAttributes"]
        if not any(covers(attribute, name) for name in sortable):
            available = (
                f"Available sortable attributes are: `{', '.join(sorted(sortable))}`."
                if sortable
                else "This index does not have configured sortable attributes."
            )
            raise MeiliError("invalid_search_sort", f"Attribute `{attribute}` is not sortable. {available}")
        criteria.append((attribute, order == "desc"))
    if criteria and "sort" not in settings["rankingRules"]:
        raise MeiliError(
            "invalid_search_sort",
            "You must specify where `sort` is listed in the rankingRules setting to use the sort parameter at search "
            "time.",
        )
    return criteria


def _facet_names(requested: list[str], index: Index) -> list[str]:
    settings = index.settings
    if "*" in requested:
        return [name for name in index.known_fields() if is_filterable(settings, name)]
    rejected = [name for name in requested if not is_filterable(settings, name)]
    names = sorted(filterable_names(settings))
    if not rejected:
        return list(dict.fromkeys(requested))
    if not names:
        raise MeiliError(
            "invalid_search_facets",
            "Invalid facet distribution, this index does not have configured filterable attributes.",
        )
    available = f"attribute is `{names[0]}`" if len(names) == 1 else f"attributes are `{', '.join(names)}`"
    subject = f"attribute `{rejected[0]}` is" if len(rejected) == 1 else f"attributes `{', '.join(rejected)}` are"
    raise MeiliError(
        "invalid_search_facets",
        f"Invalid facet distribution, {subject} not filterable. The available filterable {available}.",
    )


def _searched_settings(settings: JsonObject, attributes: list[str] | None, index: Index) -> JsonObject:
    if attributes is None or "*" in attributes:
        return settings
    searchable = settings["searchableAttributes"]
    for attribute in attributes:
        if "*" not in searchable and not any(covers(attribute, name) for name in searchable):
            available = ", ".join(searchable)
            raise MeiliError(
                "invalid_search_attributes_to_search_on",
                f"Attribute `{attribute}` is not searchable. Available searchable attributes are: `{available}`.",
            )
    ordered = index.field_order if "*" in searchable else searchable
    kept = [
        name for name in ordered if any(covers(name, attribute) or covers(attribute, name) for attribute in attributes)
    ]
    return {**settings, "searchableAttributes": kept}


def _distinct(ranked: list[RankedDocument], attribute: str | None) -> list[RankedDocument]:
    if attribute is None:
        return ranked
    seen: set[str] = set()
    kept: list[RankedDocument] = []
    for document in ranked:
        values = leaf_values(lookup(document.document, attribute))
        key = str(values[0]).lower() if values else None
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        kept.append(document)
    return kept


@dataclass
class _Page:
    offset: int
    limit: int
    info: JsonObject


def _page(parameters: JsonObject, total: int, max_total_hits: int) -> _Page:
    finite = "page" in parameters or "hitsPerPage" in parameters
    if finite:
        hits_per_page = parameters.get("hitsPerPage", 20)
        page = parameters.get("page", 1)
        offset, limit = ((page - 1) * hits_per_page, hits_per_page) if page >= 1 else (0, 0)
    else:
        offset, limit = parameters["offset"], parameters["limit"]
    offset = min(offset, max_total_hits)
    limit = min(limit, max_total_hits - offset)
    count = min(total, max_total_hits)
    if finite:
        total_pages = -(-count // hits_per_page) if hits_per_page else 0
        info = {"hitsPerPage": hits_per_page, "page": page, "totalPages": total_pages, "totalHits": count}
    else:
        info = {"limit": parameters["limit"], "offset": offset, "estimatedTotalHits": count}
    return _Page(offset, limit, info)


def _facet_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _facets(documents: list[JsonObject], names: list[str], settings: JsonObject) -> tuple[JsonObject, JsonObject]:
    distribution: JsonObject = {}
    stats: JsonObject = {}
    faceting = settings["faceting"]
    for name in names:
        counts: dict[tuple[int, Any], int] = {}
        shown: dict[tuple[int, Any], str] = {}
        numbers: list[float] = []
        for document in documents:
            keys: set[tuple[int, Any]] = set()
            for leaf in leaf_values(lookup(document, name)):
                if isinstance(leaf, int | float) and not isinstance(leaf, bool):
                    numbers.append(float(leaf))
                    key: tuple[int, Any] = (0, float(leaf))
                    shown.setdefault(key, _facet_number(float(leaf)))
                elif isinstance(leaf, str | bool):
                    text = ("true" if leaf else "false") if isinstance(leaf, bool) else leaf
                    key = (1, text.strip().lower().encode())
                    shown.setdefault(key, text)
                else:
                    continue
                keys.add(key)
            for key in keys:
                counts[key] = counts.get(key, 0) + 1
        order = faceting["sortFacetValuesBy"].get(name, faceting["sortFacetValuesBy"].get("*", "alpha"))
        ordered = sorted(counts, key=lambda key: (-counts[key], key) if order == "count" else key)
        distribution[name] = {shown[key]: counts[key] for key in ordered[: faceting["maxValuesPerFacet"]]}
        if numbers:
            stats[name] = {"min": min(numbers), "max": max(numbers)}
    return distribution, stats


def search(index: Index, body: object) -> JsonObject:
    started = time.perf_counter()
    parameters = parse_parameters(body)
    settings = index.settings
    documents = index.ordered_documents()
    condition = parse_filter(parameters["filter"]) if "filter" in parameters else None
    if condition is not None:
        check_filterable(condition, lambda attribute: is_filterable(settings, attribute), filterable_names(settings))
        documents = [(internal_id, document) for internal_id, document in documents if matches(condition, document)]
    sort = _sort_criteria(parameters.get("sort"), settings)
    distinct: str | None = parameters.get("distinct", settings["distinctAttribute"])
    if distinct is not None and "distinct" in parameters and not is_filterable(settings, distinct):
        names = filterable_names(settings)
        available = (
            f"Available filterable attributes are: `{', '.join(sorted(names))}`."
            if names
            else "This index does not have configured filterable attributes."
        )
        raise MeiliError(
            "invalid_search_distinct",
            f"Attribute `{distinct}` is not filterable and thus, cannot be used as distinct attribute. {available}",
        )
    facet_names = _facet_names(parameters["facets"], index) if "facets" in parameters else None
    searched = _searched_settings(settings, parameters.get("attributesToSearchOn"), index)
    query = parse_query(parameters.get("q", ""), searched)
    ranked = rank(documents, query, searched, index.field_order, strategy=parameters["matchingStrategy"], sort=sort)
    if "rankingScoreThreshold" in parameters:
        ranked = [document for document in ranked if document.score >= parameters["rankingScoreThreshold"]]
    ranked = _distinct(ranked, distinct)
    page = _page(parameters, len(ranked), settings["pagination"]["maxTotalHits"])
    hits = [
        format_hit(document, query.highlight_specs(), parameters, settings)
        for document in ranked[page.offset : page.offset + page.limit]
    ]
    answer: JsonObject = {
        "hits": hits,
        "query": parameters.get("q", ""),
        "processingTimeMs": int((time.perf_counter() - started) * 1000),
        **page.info,
    }
    if facet_names is not None:
        answer["facetDistribution"], answer["facetStats"] = _facets(
            [document.document for document in ranked], facet_names, settings
        )
    return answer
