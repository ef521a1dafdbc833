"""Index settings: the v1.14 defaults, the checks on an update, and how an update merges into what is stored.

Docs: reference/api/settings (settings object, PATCH is partial, ``null`` resets a setting to its default),
learn/relevancy/typo_tolerance_settings (``0 ≤ oneTypo ≤ twoTypos ≤ 255``), reference/errors/error_codes
(``invalid_settings_*``). Type errors are answered at once with 400; an impossible typo configuration fails the
settings task, as Meilisearch checks it while processing.

Stored but without effect on search here: ``nonSeparatorTokens``, ``separatorTokens``, ``dictionary``,
``proximityPrecision``, ``embedders``, ``searchCutoffMs``, ``localizedAttributes`` and ``facetSearch``.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from tests.meilisearch.errors import (
    JsonObject,
    MeiliError,
    check_object_fields,
    invalid_value,
    invalid_value_type,
    unknown_value,
)

if TYPE_CHECKING:
    from collections.abc import Callable

BUILT_IN_RANKING_RULES = ["words", "typo", "proximity", "attribute", "sort", "exactness"]

DEFAULT_SETTINGS: JsonObject = {
    "displayedAttributes": ["*"],
    "searchableAttributes": ["*"],
    "filterableAttributes": [],
    "sortableAttributes": [],
    "rankingRules": BUILT_IN_RANKING_RULES,
    "stopWords": [],
    "nonSeparatorTokens": [],
    "separatorTokens": [],
    "dictionary": [],
    "synonyms": {},
    "distinctAttribute": None,
    "proximityPrecision": "byWord",
    "typoTolerance": {
        "enabled": True,
        "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
        "disableOnWords": [],
        "disableOnAttributes": [],
    },
    "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}},
    "pagination": {"maxTotalHits": 1000},
    "embedders": {},
    "searchCutoffMs": None,
    "localizedAttributes": None,
    "facetSearch": True,
    "prefixSearch": "indexingTime",
}

SETTING_ROUTES = {
    "displayed-attributes": ("displayedAttributes", "PUT"),
    "searchable-attributes": ("searchableAttributes", "PUT"),
    "filterable-attributes": ("filterableAttributes", "PUT"),
    "sortable-attributes": ("sortableAttributes", "PUT"),
    "ranking-rules": ("rankingRules", "PUT"),
    "stop-words": ("stopWords", "PUT"),
    "non-separator-tokens": ("nonSeparatorTokens", "PUT"),
    "separator-tokens": ("separatorTokens", "PUT"),
    "dictionary": ("dictionary", "PUT"),
    "synonyms": ("synonyms", "PUT"),
    "distinct-attribute": ("distinctAttribute", "PUT"),
    "proximity-precision": ("proximityPrecision", "PUT"),
    "typo-tolerance": ("typoTolerance", "PATCH"),
    "faceting": ("faceting", "PATCH"),
    "pagination": ("pagination", "PATCH"),
    "embedders": ("embedders", "PATCH"),
    "search-cutoff-ms": ("searchCutoffMs", "PUT"),
    "localized-attributes": ("localizedAttributes", "PUT"),
    "facet-search": ("facetSearch", "PUT"),
    "prefix-search": ("prefixSearch", "PUT"),
}
"""Sub-route of ``/indexes/{uid}/settings/`` → (setting, method that updates it)."""

_LOCALE_CODES = (
    "af ak am ar az be bn bg ca cs da de el en eo et fi fr gu he hi hr hu hy id it jv ja kn ka km ko la lv lt ml "
    "mr mk my ne nl nb or pa fa pl pt ro ru si sk sl sn es sr sv ta te tl th tk tr uk ur uz vi yi zh zu cy afr "
    "aka amh ara aze bel ben bul cat ces dan deu ell eng epo est fin fra guj heb hin hrv hun hye ind ita jav jpn "
    "kan kat khm kor lat lav lit mal mar mkd mya nep nld nob ori pan pes pol por ron rus sin slk slv sna spa srp "
    "swe tam tel tgl tha tuk tur ukr urd uzb vie yid zho zul cym cmn"
)
LOCALES = frozenset(_LOCALE_CODES.split())
"""The ISO 639-1 and 639-3 codes ``locales`` and ``localizedAttributes`` accept."""


def default_settings() -> JsonObject:
    return copy.deepcopy(DEFAULT_SETTINGS)


def _string_list(path: str, value: object, code: str) -> list[str]:
    if not isinstance(value, list):
        raise invalid_value_type(path, "an array", value, code)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise invalid_value_type(f"{path}[{index}]", "a string", item, code)
    return list(value)


def _boolean(path: str, value: object, code: str) -> bool:
    if not isinstance(value, bool):
        raise invalid_value_type(path, "a boolean", value, code)
    return value


def _positive_integer(path: str, value: object, code: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid_value_type(path, "a positive integer", value, code)
    return value


def _object(path: str, value: object, code: str, fields: list[str]) -> JsonObject:
    if not isinstance(value, dict):
        raise invalid_value_type(path, "an object", value, code)
    check_object_fields(value, fields, inside=path, code=code)
    return value


def _choice(path: str, value: object, code: str, accepted: list[str]) -> str:
    if not isinstance(value, str):
        raise invalid_value_type(path, "a string", value, code)
    if value not in accepted:
        raise unknown_value(value, path, accepted, code)
    return value


def _ranking_rules(value: object) -> list[str]:
    rules = _string_list(".rankingRules", value, "invalid_settings_ranking_rules")
    for index, rule in enumerate(rules):
        field, _, order = rule.rpartition(":")
        if rule not in BUILT_IN_RANKING_RULES and not (field and order in {"asc", "desc"}):
            raise invalid_value(
                f".rankingRules[{index}]",
                f"`{rule}` ranking rule is invalid. Valid ranking rules are words, typo, sort, proximity, attribute, "
                "exactness and custom ranking rules.",
                "invalid_settings_ranking_rules",
            )
    return rules


def _filterable_attributes(value: object) -> list[Any]:
    code = "invalid_settings_filterable_attributes"
    if not isinstance(value, list):
        raise invalid_value_type(".filterableAttributes", "an array", value, code)
    for index, rule in enumerate(value):
        path = f".filterableAttributes[{index}]"
        if isinstance(rule, str):
            continue
        # v1.14 granular rules: {"attributePatterns": [...], "features": {"facetSearch", "filter": {...}}}
        rule_object = _object(path, rule, code, ["attributePatterns", "features"])
        _string_list(f"{path}.attributePatterns", rule_object.get("attributePatterns"), code)
        features = _object(f"{path}.features", rule_object.get("features", {}), code, ["facetSearch", "filter"])
        filter_features = _object(
            f"{path}.features.filter", features.get("filter", {}), code, ["equality", "comparison"]
        )
        for name, flag in filter_features.items():
            _boolean(f"{path}.features.filter.{name}", flag, code)
    return list(value)


def _synonyms(value: object) -> dict[str, list[str]]:
    code = "invalid_settings_synonyms"
    if not isinstance(value, dict):
        raise invalid_value_type(".synonyms", "an object", value, code)
    return {word: _string_list(f".synonyms.{word}", alternatives, code) for word, alternatives in value.items()}


def _typo_tolerance(value: object) -> JsonObject:
    code = "invalid_settings_typo_tolerance"
    fields = ["enabled", "minWordSizeForTypos", "disableOnWords", "disableOnAttributes"]
    update = _object(".typoTolerance", value, code, fields)
    checked: JsonObject = {}
    for name, item in update.items():
        path = f".typoTolerance.{name}"
        if item is None:
            checked[name] = None
        elif name == "enabled":
            checked[name] = _boolean(path, item, code)
        elif name == "minWordSizeForTypos":
            sizes = _object(path, item, code, ["oneTypo", "twoTypos"])
            checked[name] = {
                size: None if number is None else _positive_integer(f"{path}.{size}", number, code)
                for size, number in sizes.items()
            }
        else:
            checked[name] = _string_list(path, item, code)
    return checked


def _faceting(value: object) -> JsonObject:
    code = "invalid_settings_faceting"
    update = _object(".faceting", value, code, ["maxValuesPerFacet", "sortFacetValuesBy"])
    checked: JsonObject = {}
    if "maxValuesPerFacet" in update:
        number = update["maxValuesPerFacet"]
        checked["maxValuesPerFacet"] = (
            None if number is None else _positive_integer(".faceting.maxValuesPerFacet", number, code)
        )
    if "sortFacetValuesBy" in update:
        orders = update["sortFacetValuesBy"]
        if orders is not None and not isinstance(orders, dict):
            raise invalid_value_type(".faceting.sortFacetValuesBy", "an object", orders, code)
        checked["sortFacetValuesBy"] = (
            None
            if orders is None
            else {
                facet: _choice(f".faceting.sortFacetValuesBy.{facet}", order, code, ["alpha", "count"])
                for facet, order in orders.items()
            }
        )
    return checked


def _pagination(value: object) -> JsonObject:
    code = "invalid_settings_pagination"
    update = _object(".pagination", value, code, ["maxTotalHits"])
    number = update.get("maxTotalHits")
    if "maxTotalHits" not in update:
        return {}
    return {"maxTotalHits": None if number is None else _positive_integer(".pagination.maxTotalHits", number, code)}


def _localized_attributes(value: object) -> list[JsonObject]:
    code = "invalid_settings_localized_attributes"
    if not isinstance(value, list):
        raise invalid_value_type(".localizedAttributes", "an array", value, code)
    for index, rule in enumerate(value):
        path = f".localizedAttributes[{index}]"
        rule_object = _object(path, rule, code, ["attributePatterns", "locales"])
        _string_list(f"{path}.attributePatterns", rule_object.get("attributePatterns"), code)
        check_locales(f"{path}.locales", rule_object.get("locales"), code)
    return list(value)


def check_locales(path: str, value: object, code: str) -> list[str]:
    locales = _string_list(path, value, code)
    for index, locale in enumerate(locales):
        if locale not in LOCALES:
            expected = ", ".join(sorted(LOCALES, key=lambda name: (len(name), name)))
            raise invalid_value(f"{path}[{index}]", f"Unsupported locale `{locale}`, expected one of {expected}", code)
    return locales


def _code(name: str) -> str:
    """``searchCutoffMs`` → ``invalid_settings_search_cutoff_ms``: each setting has its own error code."""
    return "invalid_settings_" + "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


def _strings_setting(name: str) -> Callable[[object], list[str]]:
    return lambda value: _string_list(f".{name}", value, _code(name))


def _distinct_attribute(value: object) -> str:
    if not isinstance(value, str):
        raise invalid_value_type(".distinctAttribute", "a string", value, _code("distinctAttribute"))
    return value


def _embedders(value: object) -> JsonObject:
    """Stored as given: semantic search is out of this stand-in's scope."""
    if not isinstance(value, dict):
        raise invalid_value_type(".embedders", "an object", value, _code("embedders"))
    return value


_CHECKERS: dict[str, Callable[[object], Any]] = {
    "displayedAttributes": _strings_setting("displayedAttributes"),
    "searchableAttributes": _strings_setting("searchableAttributes"),
    "filterableAttributes": _filterable_attributes,
    "sortableAttributes": _strings_setting("sortableAttributes"),
    "rankingRules": _ranking_rules,
    "stopWords": _strings_setting("stopWords"),
    "nonSeparatorTokens": _strings_setting("nonSeparatorTokens"),
    "separatorTokens": _strings_setting("separatorTokens"),
    "dictionary": _strings_setting("dictionary"),
    "synonyms": _synonyms,
    "distinctAttribute": _distinct_attribute,
    "proximityPrecision": lambda value: _choice(
        ".proximityPrecision", value, _code("proximityPrecision"), ["byWord", "byAttribute"]
    ),
    "typoTolerance": _typo_tolerance,
    "faceting": _faceting,
    "pagination": _pagination,
    "embedders": _embedders,
    "searchCutoffMs": lambda value: _positive_integer(".searchCutoffMs", value, _code("searchCutoffMs")),
    "localizedAttributes": _localized_attributes,
    "facetSearch": lambda value: _boolean(".facetSearch", value, _code("facetSearch")),
    "prefixSearch": lambda value: _choice(".prefixSearch", value, _code("prefixSearch"), ["indexingTime", "disabled"]),
}


def check_settings_update(body: object) -> JsonObject:
    """The update as Meilisearch accepts it, or the 400 it answers: unknown names first, then each value's type."""
    if not isinstance(body, dict):
        raise invalid_value_type("", "an object", body, "bad_request")
    check_object_fields(body, list(DEFAULT_SETTINGS), code="bad_request")
    return {name: None if value is None else _CHECKERS[name](value) for name, value in body.items()}


def merge_settings(current: JsonObject, update: JsonObject) -> JsonObject:
    """Apply a checked update: ``null`` resets, objects merge field by field, everything else replaces."""
    merged = copy.deepcopy(current)
    for name, value in update.items():
        if value is None:
            merged[name] = copy.deepcopy(DEFAULT_SETTINGS[name])
        elif name in {"typoTolerance", "faceting", "pagination"}:
            merged[name] = _merge_object(merged[name], value, DEFAULT_SETTINGS[name])
        else:
            merged[name] = copy.deepcopy(value)
    return merged


def _merge_object(current: JsonObject, update: JsonObject, defaults: JsonObject) -> JsonObject:
    merged = copy.deepcopy(current)
    for name, value in update.items():
        if value is None:
            merged[name] = copy.deepcopy(defaults[name])
        elif isinstance(value, dict) and name == "minWordSizeForTypos":
            merged[name] = _merge_object(merged[name], value, defaults[name])
        else:
            merged[name] = copy.deepcopy(value)
    return merged


def check_settings_consistency(settings: JsonObject) -> None:
    """What Meilisearch verifies while processing the settings task; a violation fails the task."""
    sizes = settings["typoTolerance"]["minWordSizeForTypos"]
    one_typo, two_typos = sizes["oneTypo"], sizes["twoTypos"]
    if not 0 <= one_typo <= two_typos <= 255:
        raise MeiliError(
            "invalid_settings_typo_tolerance",
            "`minWordSizeForTypos` setting is invalid. `oneTypo` and `twoTypos` fields should be between `0` and "
            f"`255`, and `twoTypos` should be greater or equals to `oneTypo` but found `oneTypo: {one_typo}` and "
            f"twoTypos: {two_typos}`.",
        )
