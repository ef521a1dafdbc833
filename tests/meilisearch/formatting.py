"""What a search hit looks like: retrieved fields, ``_formatted``, ``_matchesPosition`` and ``_rankingScore``.

Docs: reference/api/search (attributesToRetrieve, attributesToHighlight with highlightPreTag/PostTag,
attributesToCrop with cropLength/cropMarker, showMatchesPosition, showRankingScore) and
reference/api/settings (displayedAttributes). A hit holds the displayed attributes named by
``attributesToRetrieve``; when highlighting or cropping is asked, ``_formatted`` repeats them with numbers turned
into strings, matched query words wrapped in the tags (the whole word, or the matched part of a prefix), in any
attribute listed, searchable or not. ``_matchesPosition`` gives each match's byte ``start`` and ``length``.

Simplifications: each matched word gets its own pair of tags; cropping keeps ``cropLength`` words around the
first match without Meilisearch's preference for sentence boundaries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.meilisearch.documents import covers, select_fields
from tests.meilisearch.matching import highlight_spans
from tests.meilisearch.text import tokenize

if TYPE_CHECKING:
    from tests.meilisearch.errors import JsonObject
    from tests.meilisearch.matching import WordSpec
    from tests.meilisearch.ranking import RankedDocument


def _named(path: str, names: set[str]) -> bool:
    return "*" in names or any(covers(path, name) for name in names)


class _Formatter:
    def __init__(self, specs: list[WordSpec], parameters: JsonObject) -> None:
        self.specs = specs
        self.highlighted = set(parameters.get("attributesToHighlight") or [])
        self.cropped: dict[str, int] = {}
        for entry in parameters.get("attributesToCrop") or []:
            name, _, length = entry.partition(":")
            self.cropped[name] = int(length) if length.isdigit() else parameters["cropLength"]
        self.pre_tag = parameters["highlightPreTag"]
        self.post_tag = parameters["highlightPostTag"]
        self.crop_marker = parameters["cropMarker"]

    @property
    def active(self) -> bool:
        return bool(self.highlighted or self.cropped)

    def crop_length(self, path: str) -> int | None:
        lengths = [length for name, length in self.cropped.items() if name == "*" or covers(path, name)]
        return lengths[0] if lengths else None

    def format(self, value: Any, path: str) -> Any:
        if isinstance(value, dict):
            return {key: self.format(item, f"{path}.{key}" if path else key) for key, item in value.items()}
        if isinstance(value, list):
            return [self.format(item, path) for item in value]
        if isinstance(value, bool) or value is None:
            return value
        text = str(value)
        spans = highlight_spans(text, self.specs) if _named(path, self.highlighted) else []
        crop_length = self.crop_length(path)
        window = _crop_window(text, highlight_spans(text, self.specs), crop_length) if crop_length is not None else None
        return self.render(text, spans, window)

    def render(self, text: str, spans: list[tuple[int, int]], window: tuple[int, int] | None) -> str:
        start, end = window if window else (0, len(text))
        pieces: list[str] = [self.crop_marker] if start > 0 else []
        cursor = start
        for span_start, span_end in spans:
            if span_start < start or span_end > end:
                continue
            pieces += [text[cursor:span_start], self.pre_tag, text[span_start:span_end], self.post_tag]
            cursor = span_end
        pieces.append(text[cursor:end])
        if end < len(text):
            pieces.append(self.crop_marker)
        return "".join(pieces)


def _crop_window(text: str, spans: list[tuple[int, int]], length: int) -> tuple[int, int]:
    tokens = tokenize(text)
    if len(tokens) <= length:
        return 0, len(text)
    if length == 0:
        return 0, 0
    first_match = next((at for at, token in enumerate(tokens) if spans and token.start <= spans[0][0] < token.end), 0)
    first = max(0, min(first_match - (length - 1) // 2, len(tokens) - length))
    last = first + length - 1
    start = 0 if first == 0 else tokens[first].start
    end = len(text) if last == len(tokens) - 1 else tokens[last].end
    return start, end


def _matches_position(
    value: Any, path: str, specs: list[WordSpec], found: dict[str, list[JsonObject]], index: int | None
) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _matches_position(item, f"{path}.{key}" if path else key, specs, found, None)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            _matches_position(item, path, specs, found, position)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        text = str(value)
        for start, end in highlight_spans(text, specs):
            entry: JsonObject = {"start": len(text[:start].encode()), "length": len(text[start:end].encode())}
            if index is not None:
                entry["indices"] = [index]
            found.setdefault(path, []).append(entry)


def format_hit(
    ranked: RankedDocument, specs: list[WordSpec], parameters: JsonObject, settings: JsonObject
) -> JsonObject:
    displayed = select_fields(ranked.document, set(settings["displayedAttributes"]))
    hit = select_fields(displayed, set(parameters.get("attributesToRetrieve") or ["*"]))
    formatter = _Formatter(specs, parameters)
    if formatter.active:
        hit["_formatted"] = formatter.format(dict(hit), "")
    if parameters.get("showMatchesPosition"):
        positions: dict[str, list[JsonObject]] = {}
        _matches_position(displayed, "", specs, positions, None)
        hit["_matchesPosition"] = positions
    if parameters.get("showRankingScore"):
        hit["_rankingScore"] = ranked.score
    return hit
