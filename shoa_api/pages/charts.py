"""The insights page's charts as SVG drawn on the server: a funnel and a heat map, each figure written on the chart.

Plain inline SVG with presentation attributes (no script, no inline ``style``, so the page's Content Security
Policy can forbid both), a ``<title>`` and ``<desc>`` that name the chart for screen readers, and a ``<title>`` on
every bar and cell saying what it counts. The page puts a table with the same figures beside each chart. Every
text is escaped here: labels may come from malls.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

SUPPRESSED_MARK = "\N{EN DASH}"
"""What a suppressed cell shows: fewer than 5 people, so no figure."""

_INK = "#1d2430"
_MUTED = "#5b6475"
_BAR = "#2f6fdb"
_SUPPRESSED_FILL = "#e6e8ec"
_LOW = (0xEE, 0xF3, 0xFC)
_HIGH = (0x16, 0x3E, 0x8C)


@dataclass(frozen=True, kw_only=True)
class FunnelStep:
    key: str
    """A stable name (``views``…), for the page's tests and styles."""
    label: str
    value: int


@dataclass(frozen=True, kw_only=True)
class HeatRow:
    key: str
    label: str
    cells: Sequence[int | None]
    """One figure per column; ``None`` for a suppressed cell."""


def number(value: int) -> str:
    return f"{value:,}"


def percent(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else SUPPRESSED_MARK


def funnel_svg(steps: Sequence[FunnelStep], *, ident: str, title: str, description: str) -> str:
    """Horizontal bars from the first step down, each with its figure and its share of the first step (likes and
    carts are not steps one takes after the other, so a share of the step before could pass 100%)."""
    label_width, bar_space, row, top = 96, 430, 52, 8
    width, height = label_width + bar_space + 150, top + row * len(steps)
    widest = max((step.value for step in steps), default=0)
    parts = [_svg_open(ident, "funnel", width=width, height=height, title=title, description=description)]
    first = steps[0] if steps else None
    for index, step in enumerate(steps):
        y = top + index * row
        bar = max(round(bar_space * step.value / widest), 2) if widest else 2
        share = f"{first.label}의 {percent(step.value, first.value)}" if first is not None and index else "기준"
        parts.append(
            f'<g class="funnel-step" data-step="{escape(step.key)}">'
            f"<title>{escape(step.label)} {number(step.value)} ({escape(share)})</title>"
            f'<text x="{label_width - 12}" y="{y + 24}" text-anchor="end" fill="{_INK}" font-size="15" '
            f'font-weight="600">{escape(step.label)}</text>'
            f'<rect x="{label_width}" y="{y + 6}" width="{bar}" height="28" rx="4" fill="{_BAR}" '
            f'fill-opacity="{1 - 0.15 * index:.2f}"/>'
            f'<text class="funnel-value" data-step="{escape(step.key)}" x="{label_width + bar + 8}" y="{y + 25}" '
            f'fill="{_INK}" font-size="15" font-weight="700">{number(step.value)}</text>'
            f'<text class="funnel-share" x="{label_width + bar + 8}" y="{y + 44}" fill="{_MUTED}" '
            f'font-size="12">{escape(share)}</text>'
            "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def heatmap_svg(
    rows: Sequence[HeatRow],
    *,
    ident: str,
    columns: Sequence[str],
    column_title: str,
    column_suffix: str = "",
    measure: str,
    title: str,
    description: str,
) -> str:
    """A grid of rows by ``columns``, each cell shaded by its figure (darker is more) and showing it; a
    suppressed cell is grey and shows ``SUPPRESSED_MARK``."""
    label_width, cell_width, cell_height, header = 92, 34, 30, 40
    width = label_width + cell_width * len(columns) + 4
    height = header + cell_height * len(rows) + 4
    highest = max((value for row in rows for value in row.cells if value is not None), default=0)
    parts = [_svg_open(ident, "heatmap", width=width, height=height, title=title, description=description)]
    parts.append(
        f'<text x="{label_width}" y="12" fill="{_MUTED}" font-size="11">{escape(column_title)}</text>'
        + "".join(
            f'<text x="{label_width + cell_width * index + cell_width / 2:g}" y="{header - 8}" text-anchor="middle" '
            f'fill="{_MUTED}" font-size="11">{escape(column)}</text>'
            for index, column in enumerate(columns)
        )
    )
    for row_index, row in enumerate(rows):
        y = header + row_index * cell_height
        parts.append(
            f'<g class="heatmap-row" data-row="{escape(row.key)}">'
            f'<text x="{label_width - 8}" y="{y + 19}" text-anchor="end" fill="{_INK}" font-size="12">'
            f"{escape(row.label)}</text>"
        )
        for column_index, value in enumerate(row.cells):
            x = label_width + column_index * cell_width
            column = f"{columns[column_index]}{column_suffix}"
            if value is None:
                fill, ink, shown = _SUPPRESSED_FILL, _MUTED, SUPPRESSED_MARK
                said = f"{row.label} {column}: 5명 미만이라 표시하지 않음"
            else:
                strength = value / highest if highest else 0.0
                fill, ink, shown = _shade(strength), ("#ffffff" if strength > 0.55 else _INK), number(value)
                said = f"{row.label} {column}: {measure} {number(value)}"
            parts.append(
                f'<g class="heatmap-cell" data-row="{escape(row.key)}" data-column="{column_index}" '
                f'data-suppressed="{"true" if value is None else "false"}">'
                f"<title>{escape(said)}</title>"
                f'<rect x="{x + 1}" y="{y + 1}" width="{cell_width - 2}" height="{cell_height - 2}" rx="3" '
                f'fill="{fill}"/>'
                f'<text x="{x + cell_width / 2:g}" y="{y + 19}" text-anchor="middle" fill="{ink}" '
                f'font-size="{11 if value is None or value < 1000 else 9}">{shown}</text>'
                "</g>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _svg_open(ident: str, kind: str, *, width: int, height: int, title: str, description: str) -> str:
    return (
        f'<svg id="{ident}" class="chart chart-{kind}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" font-family="system-ui, sans-serif">'
        f'<title id="{ident}-title">{escape(title)}</title><desc id="{ident}-desc">{escape(description)}</desc>'
    )


def _shade(strength: float) -> str:
    """A blue from pale (nothing) to deep (the most), so that a figure's cell reads at a glance."""
    channels = (round(low + (high - low) * strength) for low, high in zip(_LOW, _HIGH, strict=True))
    return "#" + "".join(f"{channel:02x}" for channel in channels)
