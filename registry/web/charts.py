"""The pool's split as an SVG pie, drawn on the server (no script): one slice per group,
with a legend giving tonnes, events and share, and a title and description for screen
readers. Shares are computed in integer per-mille, as the report does."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape

from projections.queries import AllocationTotals
from registry.support.presentation import tonnes

PIE_GROUPS = ("wards", "cities", "towns and villages", "project's own events")
COLOURS = ("#1b5e20", "#0d47a1", "#bf360c", "#4e342e")  # dark: white text and borders read well
WIDTH, HEIGHT, RADIUS = 880, 340, 140


def pie(totals: Sequence[AllocationTotals], text: Callable[[str], str], title: str) -> str:
    by_label = {s.label: s for s in totals}
    slices = [(label, by_label[label]) for label in PIE_GROUPS if label in by_label]
    whole = sum(s.offset_kg for _label, s in slices)
    cx, cy = 170, 180
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="chart-title chart-desc" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" class="chart">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(_description(slices, whole, text))}</desc>',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    angle = -math.pi / 2
    for index, (_label, group) in enumerate(slices):
        if whole == 0 or group.offset_kg == 0:
            continue
        sweep = 2 * math.pi * group.offset_kg / whole
        parts.append(_slice(cx, cy, angle, sweep, COLOURS[index]))
        angle += sweep
    for index, (label, group) in enumerate(slices):
        y = 70 + index * 44
        share = group.offset_kg * 1000 // whole if whole else 0
        parts.append(f'<rect x="350" y="{y - 16}" width="20" height="20" fill="{COLOURS[index]}"/>')
        parts.append(
            f'<text x="380" y="{y}" font-size="15" fill="#111">{escape(text("group_" + label))}: '
            f"{tonnes(group.offset_kg)} t, {group.events_offset} ({share // 10}.{share % 10}%)</text>"
        )
    parts.append(
        f'<text x="350" y="{70 + len(slices) * 44}" font-size="15" font-weight="bold" fill="#111">'
        f"{escape(text('retired'))}: {tonnes(whole)} t-CO2</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _slice(cx: int, cy: int, angle: float, sweep: float, colour: str) -> str:
    if sweep >= 2 * math.pi - 1e-9:  # one group holds everything: a full circle
        return f'<circle cx="{cx}" cy="{cy}" r="{RADIUS}" fill="{colour}"/>'
    x1, y1 = cx + RADIUS * math.cos(angle), cy + RADIUS * math.sin(angle)
    x2, y2 = cx + RADIUS * math.cos(angle + sweep), cy + RADIUS * math.sin(angle + sweep)
    large = 1 if sweep > math.pi else 0
    return (
        f'<path d="M{cx},{cy} L{x1:.2f},{y1:.2f} A{RADIUS},{RADIUS} 0 {large} 1 {x2:.2f},{y2:.2f} Z" '
        f'fill="{colour}" stroke="#ffffff" stroke-width="2"/>'
    )


def _description(
    slices: Sequence[tuple[str, AllocationTotals]], whole: int, text: Callable[[str], str]
) -> str:
    return (
        "; ".join(
            f"{text('group_' + label)} {tonnes(group.offset_kg)} t" for label, group in slices
        )
        + f"; {text('retired')} {tonnes(whole)} t"
    )
