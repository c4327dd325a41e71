"""Charts drawn on the server as inline SVG: no script, no library, readable without colour.

Every chart carries a title and a description for screen readers, and the same figures are
shown in a table beside it by the pages that use it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

# Colour-blind safe (Okabe-Ito), each with a pattern-free contrast ≥ 3:1 on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


@dataclass(frozen=True)
class Series:
    """One stacked part of each bar (e.g. "sent"), with its values in bar order."""

    label: str
    values: Sequence[float]
    colour: str | None = None  # one of PALETTE when the meaning asks for it; else by order


_ids = itertools.count(1)


def _colour(series: Series, index: int) -> str:
    return series.colour or PALETTE[index % len(PALETTE)]


def _nice_max(value: float) -> float:
    """The top of the axis: four equal steps of 1, 2 or 5 × 10^k (whole numbers on the
    gridlines, so a bar of 1 ends on the line labelled 1)."""
    if value <= 0:
        return 4.0
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude * 4 >= value:
                return float(step * magnitude * 4)
        magnitude *= 10


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    description: str = "",
    width: int = 640,
    height: int = 220,
) -> str:
    """Stacked bars, one per label (e.g. per day), with a legend; returns SVG markup."""
    left, right, top, bottom = 44, 8, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top_value = _nice_max(max(totals, default=0))
    n = max(len(labels), 1)
    slot = plot_w / n
    bar_w = max(min(slot * 0.7, 40), 1)
    # Ids unique within the page: several charts may share one.
    cid = f"chart{next(_ids)}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 24}" '
        f'role="img" aria-labelledby="{cid}t {cid}d" class="chart" '
        f'preserveAspectRatio="xMinYMin meet">',
        f'<title id="{cid}t">{escape(title)}</title>'
        f'<desc id="{cid}d">{escape(description)}</desc>',
    ]
    for k in range(5):
        value = top_value * k / 4
        y = top + plot_h - plot_h * k / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d0d0d0" stroke-width="1"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#333">{value:,.0f}</text>'
        )
    every = max(1, n // 10)
    for i, label in enumerate(labels):
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h
        for j, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top_value
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{_colour(s, j)}"><title>{escape(label)} '
                f"{escape(s.label)}: {value:,.0f}</title></rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text x="{left + slot * i + slot / 2:.1f}" y="{top + plot_h + 14}" '
                f'text-anchor="middle" font-size="11" fill="#333">{escape(label)}</text>'
            )
    x = left
    for j, s in enumerate(series):
        parts.append(
            f'<rect x="{x}" y="{height + 8}" width="12" height="12" '
            f'fill="{_colour(s, j)}"/>'
            f'<text x="{x + 16}" y="{height + 18}" font-size="12" fill="#222">'
            f"{escape(s.label)}</text>"
        )
        x += 24 + 8 * len(s.label) + 6 * sum(1 for c in s.label if ord(c) > 0x2E80)
    parts.append("</svg>")
    return "".join(parts)


def meter(used: float, total: float | None, *, title: str) -> str:
    """A horizontal bar: how much of a budget is used (e.g. LINE messages this month)."""
    width, height = 320, 24
    share = 0.0 if not total else min(used / total, 1.0)
    colour = "#0072B2" if share < 0.8 else "#D55E00"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'class="meter"><title>{escape(title)}</title>'
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#e8e8e8" rx="4"/>'
        f'<rect x="0" y="0" width="{width * share:.1f}" height="{height}" fill="{colour}" '
        f'rx="4"/></svg>'
    )
