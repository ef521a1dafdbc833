"""Testing documents against a parsed filter, and refusing attributes that are not filterable.

Docs: learn/filtering_and_sorting/filter_expression_reference. String equality is case-insensitive and also
matches booleans (``inStock = true``); a number in the filter matches numeric values; ``!=`` and ``NOT`` select
every document the positive form does not, those without the field included; ``>``, ``>=``, ``<``, ``<=`` and
``TO`` (inclusive) compare numbers only; ``EXISTS`` is true for ``null`` and empty values too; ``IS EMPTY``
matches ``""``, ``[]`` and ``{}``; an array field matches when one of its elements does; dots reach nested
fields (``rating.users > 85``). Simplification: granular ``filterableAttributes`` rules (v1.14 objects) decide
whether an attribute is filterable, not which operators it allows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.meilisearch.documents import leaf_values, lookup
from tests.meilisearch.filters import (
    AllOf,
    AnyOf,
    Between,
    Exists,
    FieldCondition,
    Filter,
    InList,
    IsEmpty,
    IsNull,
    Not,
    Value,
    filter_error,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


def field_conditions(node: Filter) -> Iterator[FieldCondition]:
    if isinstance(node, Not):
        yield from field_conditions(node.child)
    elif isinstance(node, AllOf | AnyOf):
        for child in node.children:
            yield from field_conditions(child)
    else:
        yield node


def check_filterable(node: Filter, is_filterable: Callable[[str], bool], filterable_names: list[str]) -> None:
    """Refuse the first attribute that is not filterable, with the error Meilisearch gives."""
    for condition in field_conditions(node):
        field = condition.field
        if is_filterable(field.text):
            continue
        diagnostic = f"Attribute `{field.text}` is not filterable."
        if filterable_names:
            names = ", ".join(f"`{name}`" for name in sorted(filterable_names))
            diagnostic += f" Available filterable attribute patterns are: {names}."
        else:
            diagnostic += " This index does not have configured filterable attributes."
        raise filter_error(diagnostic, field.source, field.start, field.end - field.start)


def _facet_string(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.strip().lower() if isinstance(value, str) else None


def _equals(leaves: list[Any], value: Value) -> bool:
    wanted_number = value.number()
    wanted_text = value.text.strip().lower()
    for leaf in leaves:
        if isinstance(leaf, int | float) and not isinstance(leaf, bool):
            if wanted_number is not None and float(leaf) == wanted_number:
                return True
        elif _facet_string(leaf) == wanted_text:
            return True
    return False


def _numbers(leaves: list[Any]) -> list[float]:
    return [float(leaf) for leaf in leaves if isinstance(leaf, int | float) and not isinstance(leaf, bool)]


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": lambda left, right: left > right,
    ">=": lambda left, right: left >= right,
    "<": lambda left, right: left < right,
    "<=": lambda left, right: left <= right,
}


def matches(node: Filter, document: dict[str, Any]) -> bool:  # noqa: PLR0911 - one return per node kind
    if isinstance(node, Not):
        return not matches(node.child, document)
    if isinstance(node, AllOf):
        return all(matches(child, document) for child in node.children)
    if isinstance(node, AnyOf):
        return any(matches(child, document) for child in node.children)
    found = lookup(document, node.field.text)
    if isinstance(node, Exists):
        return bool(found)
    if isinstance(node, IsNull):
        return any(value is None for value in found)
    if isinstance(node, IsEmpty):
        return any(value in ("", [], {}) for value in found)
    leaves = leaf_values(found)
    if isinstance(node, InList):
        return any(_equals(leaves, value) for value in node.values)
    if isinstance(node, Between):
        low, high = node.low.number(), node.high.number()
        return low is not None and high is not None and any(low <= number <= high for number in _numbers(leaves))
    if node.operator == "=":
        return _equals(leaves, node.value)
    if node.operator == "!=":
        return not _equals(leaves, node.value)
    bound = node.value.number()
    return bound is not None and any(_COMPARE[node.operator](number, bound) for number in _numbers(leaves))
