"""The ``filter`` search parameter: parsing Meilisearch's filter expressions into a tree (``filter_matching`` tests
documents against it).

Docs: learn/filtering_and_sorting/filter_expression_reference. Supported: ``=``, ``!=``, ``>``, ``>=``, ``<``,
``<=``, ``low TO high``, ``IN [...]``, ``NOT IN``, ``EXISTS``, ``NOT EXISTS``, ``IS NULL``, ``IS NOT NULL``,
``IS EMPTY``, ``IS NOT EMPTY``, ``NOT`` (binds tightest), ``AND`` (binds tighter than ``OR``), ``OR``,
parentheses, values quoted with ``'`` or ``"`` (backslash escapes), keywords in capitals as documented, and the
array form (outer array AND, inner arrays OR, two levels at most).

Errors carry Meilisearch's diagnostic, then a line ``start:end expression`` pointing at the culprit (1-based
character columns), under the ``invalid_search_filter`` code. ``CONTAINS`` and ``STARTS WITH`` answer
``feature_not_enabled`` as they do while that experimental feature is off. Simplifications: ``_geoRadius`` and
``_geoBoundingBox`` are refused as unsupported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.meilisearch.errors import MeiliError, compact_json

if TYPE_CHECKING:
    from collections.abc import Callable

KEYWORDS = {"AND", "OR", "NOT", "TO", "IN", "EXISTS", "IS", "NULL", "EMPTY", "CONTAINS", "STARTS", "WITH"}
COMPARISONS = ("!=", ">=", "<=", "=", ">", "<")
_SPECIAL = set("()[],=!<>'\"")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_RESERVED_GEO = {"_geo", "_geoDistance", "_geoPoint"}
_OPERATIONS = (
    "`=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, `EXISTS`, `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, "
    "`IS EMPTY`, `IS NOT EMPTY`, `CONTAINS`, `NOT CONTAINS`, `STARTS WITH`, `NOT STARTS WITH`, `_geoRadius`, or "
    "`_geoBoundingBox`"
)


@dataclass(frozen=True)
class Value:
    text: str
    start: int
    end: int
    source: str
    quoted: bool = False

    def number(self) -> float | None:
        return float(self.text) if _NUMBER.fullmatch(self.text) else None


@dataclass(frozen=True)
class Comparison:
    field: Value
    operator: str
    value: Value


@dataclass(frozen=True)
class Between:
    field: Value
    low: Value
    high: Value


@dataclass(frozen=True)
class InList:
    field: Value
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Exists:
    field: Value


@dataclass(frozen=True)
class IsNull:
    field: Value


@dataclass(frozen=True)
class IsEmpty:
    field: Value


@dataclass(frozen=True)
class Not:
    child: Filter


@dataclass(frozen=True)
class AllOf:
    children: tuple[Filter, ...]


@dataclass(frozen=True)
class AnyOf:
    children: tuple[Filter, ...]


Filter = Comparison | Between | InList | Exists | IsNull | IsEmpty | Not | AllOf | AnyOf
FieldCondition = Comparison | Between | InList | Exists | IsNull | IsEmpty


def filter_error(
    diagnostic: str, source: str, start: int, length: int, code: str = "invalid_search_filter"
) -> MeiliError:
    return MeiliError(code, f"{diagnostic}\n{start + 1}:{start + 1 + length} {source}")


class _Parser:
    """Recursive descent over ``or = and (OR and)*``, ``and = not (AND not)*``, ``not = NOT not | primary``."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.position = 0

    def parse(self) -> Filter:
        result = self.parse_or()
        self.skip_spaces()
        if self.position < len(self.source):
            rest = self.source[self.position :]
            raise filter_error(
                f"Found unexpected characters at the end of the filter: `{rest}`. You probably forgot an `OR` or an "
                "`AND` rule.",
                self.source,
                self.position,
                len(rest),
            )
        return result

    def skip_spaces(self) -> None:
        while self.position < len(self.source) and self.source[self.position].isspace():
            self.position += 1

    def peek_word(self) -> str:
        """The bare word at the cursor (after spaces), without consuming it."""
        self.skip_spaces()
        end = self.position
        while end < len(self.source) and not self.source[end].isspace() and self.source[end] not in _SPECIAL:
            end += 1
        return self.source[self.position : end]

    def take_keyword(self, keyword: str) -> bool:
        if self.peek_word() == keyword:
            self.position += len(keyword)
            return True
        return False

    def parse_or(self) -> Filter:
        children = [self.parse_and()]
        while self.take_keyword("OR"):
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else AnyOf(tuple(children))

    def parse_and(self) -> Filter:
        children = [self.parse_not()]
        while self.take_keyword("AND"):
            children.append(self.parse_not())
        return children[0] if len(children) == 1 else AllOf(tuple(children))

    def parse_not(self) -> Filter:
        if self.take_keyword("NOT"):
            child = self.parse_not()
            return child.child if isinstance(child, Not) else Not(child)
        return self.parse_primary()

    def parse_primary(self) -> Filter:
        self.skip_spaces()
        start = self.position
        if self.source.startswith("(", start):
            self.position += 1
            inner = self.parse_or()
            self.skip_spaces()
            if not self.source.startswith(")", self.position):
                rest = self.source[start:]
                raise filter_error(
                    f"Expression `{rest}` is missing the following closing delimiter: `)`.",
                    self.source,
                    start,
                    len(rest),
                )
            self.position += 1
            return inner
        if self.source.startswith(("_geoRadius", "_geoBoundingBox"), start):
            rest = self.source[start:]
            raise filter_error(
                "Geographic filters are not supported by this Meilisearch stand-in.", self.source, start, len(rest)
            )
        field = self.read_value()
        if field is None or (not field.quoted and field.text in KEYWORDS):
            rest = self.source[start:]
            text = f"at `{rest.strip()}`." if rest.strip() else "but instead got nothing."
            raise filter_error(f"Was expecting an operation {_OPERATIONS} {text}", self.source, start, len(rest))
        if field.text in _RESERVED_GEO:
            rest = self.source[start:]
            raise filter_error(
                f"`{field.text}` is a reserved keyword and thus can't be used as a filter expression. Use the "
                "`_geoRadius(latitude, longitude, distance)` or `_geoBoundingBox([latitude, longitude], [latitude, "
                "longitude])` built-in rules to filter on `_geo` coordinates.",
                self.source,
                start,
                len(rest),
            )
        condition = self.parse_condition(field)
        if condition is None:
            rest = self.source[start:]
            raise filter_error(f"Was expecting an operation {_OPERATIONS} at `{rest}`.", self.source, start, len(rest))
        return condition

    def parse_condition(self, field: Value) -> Filter | None:
        self.skip_spaces()
        for operator in COMPARISONS:
            if self.source.startswith(operator, self.position):
                self.position += len(operator)
                return Comparison(field, operator, self.expect_value())
        word = self.peek_word()
        keyword_start = self.position
        if word in {"CONTAINS", "STARTS"}:
            raise filter_error(
                "Using `CONTAINS` or `STARTS WITH` in a filter requires enabling the `contains filter` experimental "
                "feature. See https://github.com/orgs/meilisearch/discussions/763",
                self.source,
                keyword_start,
                len(word),
                code="feature_not_enabled",
            )
        simple: dict[str, Callable[[], Filter]] = {
            "IN": lambda: InList(field, self.parse_list()),
            "EXISTS": lambda: Exists(field),
            "IS": lambda: self.parse_is(field),
            "NOT": lambda: self.parse_negated(field),
        }
        if word in simple:
            self.position += len(word)
            return simple[word]()
        low = self.read_value()
        if low is not None and self.take_keyword("TO"):
            return Between(field, low, self.expect_value())
        return None

    def parse_is(self, field: Value) -> Filter:
        negated = self.take_keyword("NOT")
        if self.take_keyword("NULL"):
            condition: Filter = IsNull(field)
        elif self.take_keyword("EMPTY"):
            condition = IsEmpty(field)
        else:
            rest = self.source[field.start :]
            raise filter_error(
                f"Was expecting an operation {_OPERATIONS} at `{rest}`.", self.source, field.start, len(rest)
            )
        return Not(condition) if negated else condition

    def parse_negated(self, field: Value) -> Filter:
        if self.take_keyword("IN"):
            return Not(InList(field, self.parse_list()))
        if self.take_keyword("EXISTS"):
            return Not(Exists(field))
        rest = self.source[field.start :]
        raise filter_error(
            f"Was expecting an operation {_OPERATIONS} at `{rest}`.", self.source, field.start, len(rest)
        )

    def parse_list(self) -> tuple[Value, ...]:
        self.skip_spaces()
        if not self.source.startswith("[", self.position):
            raise filter_error(
                "Expected `[` after `IN` keyword.", self.source, self.position, len(self.source) - self.position
            )
        self.position += 1
        values: list[Value] = []
        while True:
            self.skip_spaces()
            if self.source.startswith("]", self.position):
                self.position += 1
                return tuple(values)
            value = self.read_value()
            if value is None:
                rest = self.source[self.position :]
                diagnostic = (
                    "Expected matching `]` after the list of field names given to `IN[`"
                    if not rest
                    else f"Expected only comma-separated field names inside `IN[..]` but instead found `{rest}`."
                )
                raise filter_error(diagnostic, self.source, self.position, len(rest))
            values.append(value)
            self.skip_spaces()
            if self.source.startswith(",", self.position):
                self.position += 1

    def expect_value(self) -> Value:
        value = self.read_value()
        if value is None or (not value.quoted and value.text in KEYWORDS):
            rest = self.source[self.position :]
            got = "nothing." if not rest.strip() else f"`{rest.split()[0]}`."
            raise filter_error(f"Was expecting a value but instead got {got}", self.source, self.position, len(rest))
        return value

    def read_value(self) -> Value | None:
        self.skip_spaces()
        start = self.position
        if start < len(self.source) and self.source[start] in "'\"":
            return self.read_quoted(self.source[start])
        word = self.peek_word()
        if not word:
            return None
        self.position += len(word)
        return Value(word, start, self.position, self.source)

    def read_quoted(self, quote: str) -> Value:
        start = self.position
        index = start + 1
        text: list[str] = []
        while index < len(self.source) and self.source[index] != quote:
            if self.source[index] == "\\" and index + 1 < len(self.source):
                index += 1
            text.append(self.source[index])
            index += 1
        if index >= len(self.source):
            rest = self.source[start:]
            raise filter_error(
                f"Expression `{rest}` is missing the following closing delimiter: `{quote}`.",
                self.source,
                start,
                len(rest),
            )
        self.position = index + 1
        return Value("".join(text), start + 1, index, self.source, quoted=True)


def parse_filter(expression: object) -> Filter | None:
    """The ``filter`` parameter (string, or array of strings and arrays of strings) as one expression."""
    if isinstance(expression, str):
        return _Parser(expression).parse() if expression.strip() else None
    if not isinstance(expression, list):
        raise _invalid_filter_type("String, Array", expression)
    conjunction: list[Filter] = []
    for element in expression:
        if isinstance(element, str):
            parsed = parse_filter(element)
            if parsed is not None:
                conjunction.append(parsed)
        elif isinstance(element, list):
            disjunction = []
            for alternative in element:
                if not isinstance(alternative, str):
                    raise _invalid_filter_type("String", alternative)
                parsed = parse_filter(alternative)
                if parsed is not None:
                    disjunction.append(parsed)
            if disjunction:
                conjunction.append(disjunction[0] if len(disjunction) == 1 else AnyOf(tuple(disjunction)))
        else:
            raise _invalid_filter_type("String, [String]", element)
    if not conjunction:
        return None
    return conjunction[0] if len(conjunction) == 1 else AllOf(tuple(conjunction))


def _invalid_filter_type(expected: str, found: object) -> MeiliError:
    return MeiliError(
        "invalid_search_filter",
        f"Invalid syntax for the filter parameter: `expected {expected}, found: {compact_json(found)}`.",
    )
