"""What a partner's product must satisfy, checked item by item so one bad item never spoils a batch."""

from __future__ import annotations

import datetime
import re
from typing import Any

import msgspec

from catalog.categories import CATEGORY_PATHS, STYLE_TAGS
from catalog.schemas import FieldProblem, ProductIn

CURRENCIES = frozenset({"KRW", "JPY", "USD"})
"""The currencies Shoa settles in; a price in any other is refused rather than guessed at."""
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
"""Characters that change the direction text is shown in (U+202E turns the rest of a name around on screen):
no product name needs them, and they make one name pass for another."""
INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff")
"""Zero-width characters: a name of these and spaces shows as nothing."""

MAX_CLOCK_SKEW = datetime.timedelta(days=1)
"""How far ahead of Shoa's clock a mall's ``source_updated_at`` may be."""

_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$")


def parse_item(raw: msgspec.Raw | ProductIn, *, now: datetime.datetime) -> ProductIn | list[FieldProblem]:
    """One item of a batch as a product, or the field problems that keep it from being one.

    An item the batch's decoder already made a ``ProductIn`` has the right shape; it is only checked.
    """
    if isinstance(raw, ProductIn):
        item = raw
    else:
        try:
            item = msgspec.json.decode(raw, type=ProductIn)
        except msgspec.ValidationError as exc:
            return [_problem_from(exc)]
        except msgspec.DecodeError as exc:  # cannot happen for an element of a valid JSON array, kept for safety
            return [FieldProblem(field="", message=str(exc))]
    problems = check_product(item, now=now)
    return problems or item


def check_product(item: ProductIn, *, now: datetime.datetime) -> list[FieldProblem]:
    problems: list[FieldProblem] = [
        FieldProblem(field=path, message="must not contain the NUL character (U+0000)") for path in _nul_fields(item)
    ]
    if problem := source_time_problem(item.source_updated_at, now=now):
        problems.append(FieldProblem(field="source_updated_at", message=problem))
    if problem := name_problem(item.name):
        problems.append(FieldProblem(field="name", message=problem))
    if item.category_path not in CATEGORY_PATHS:
        problems.append(
            FieldProblem(
                field="category_path",
                message=(
                    f"unknown category {item.category_path!r}; use a path of the shared tree, "
                    "e.g. 상의/블라우스 or 원피스"
                ),
            )
        )
    if unknown := sorted(set(item.style_tags) - STYLE_TAGS):
        problems.append(
            FieldProblem(
                field="style_tags",
                message=f"unknown style tags {', '.join(unknown)}; known: {', '.join(sorted(STYLE_TAGS))}",
            )
        )
    seen_skus: set[str] = set()
    for position, variant in enumerate(item.variants):
        where = f"variants[{position}]"
        if variant.sku in seen_skus:
            problems.append(FieldProblem(field=f"{where}.sku", message=f"SKU {variant.sku} appears twice"))
        seen_skus.add(variant.sku)
        if variant.currency not in CURRENCIES:
            problems.append(
                FieldProblem(
                    field=f"{where}.currency",
                    message=f"currency must be one of {', '.join(sorted(CURRENCIES))}",
                )
            )
        if variant.sale_price is not None and variant.sale_price > variant.price:
            problems.append(FieldProblem(field=f"{where}.sale_price", message="sale price must not exceed the price"))
    if len({variant.currency for variant in item.variants}) > 1:
        problems.append(FieldProblem(field="variants", message="all variants of a product use one currency"))
    return problems


def source_time_problem(value: datetime.datetime, *, now: datetime.datetime) -> str | None:
    """Why a mall's ``source_updated_at`` cannot order its updates, if it cannot.

    A time past the end of year 9999 in UTC cannot be stored; one far in the future would make every later,
    honest update look stale, so a day of clock skew is all that is allowed.
    """
    try:
        in_utc = value.astimezone(datetime.UTC)
    except OverflowError:
        return "must fall within the years 1 to 9999 in UTC"
    if in_utc > now + MAX_CLOCK_SKEW:
        return "is more than a day in the future; send when the product last changed at your mall"
    return None


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be shown as a name, if it cannot."""
    if not BIDI_CONTROLS.isdisjoint(name):
        return (
            "must not contain characters that change the text's direction "
            "(U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C)"
        )
    if all(char.isspace() or char in INVISIBLE for char in name):
        return "needs at least one visible character, not only spaces or zero-width characters"
    return None


def external_id_of(raw: msgspec.Raw | ProductIn) -> str | None:
    """The item's ``external_id`` if it has a usable one, to name it in the answer even when it is rejected."""
    if isinstance(raw, ProductIn):
        return raw.external_id
    try:
        value: Any = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    external_id = value.get("external_id") if isinstance(value, dict) else None
    return external_id if isinstance(external_id, str) and 0 < len(external_id) <= 100 else None


def _problem_from(exc: msgspec.ValidationError) -> FieldProblem:
    message = str(exc)
    found = _PATH.search(message)
    path, text = (found.group("path"), message[: found.start()]) if found else ("", message)
    if unknown := _UNKNOWN_FIELD.match(text):
        # msgspec names the object that holds the field; the mall wants the field itself.
        name = unknown.group("name")
        return FieldProblem(field=f"{path}.{name}" if path else name, message="no such field")
    if "regex '^https://" in text:
        text = "must be an https URL"
    elif "regex '^[A-Za-z0-9._/-]+$'" in text:
        text = "a SKU is letters, digits and . _ / -"
    return FieldProblem(field=path, message=text)


def _nul_fields(item: ProductIn) -> list[str]:
    """Text fields holding U+0000, which JSON allows and PostgreSQL text cannot store."""
    texts: list[tuple[str, str]] = [
        ("external_id", item.external_id),
        ("name", item.name),
        ("description", item.description),
        ("category_path", item.category_path),
        *((f"style_tags[{i}]", tag) for i, tag in enumerate(item.style_tags)),
        *((f"image_urls[{i}]", url) for i, url in enumerate(item.image_urls)),
    ]
    for i, variant in enumerate(item.variants):
        texts += [(f"variants[{i}].sku", variant.sku), (f"variants[{i}].color", variant.color or "")]
        texts += [(f"variants[{i}].size", variant.size or ""), (f"variants[{i}].currency", variant.currency)]
        texts += [(f"variants[{i}].options.{key}", f"{key}{value}") for key, value in variant.options.items()]
    return [path for path, text in texts if "\x00" in text]
