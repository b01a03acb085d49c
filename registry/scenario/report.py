"""The allocation report of a joint purchase: the 62-row table with subtotals and totals
as text and CSV, a pie chart as SVG, and a retirement certificate per meeting that anyone
can check against the log with `proof_verifier.py` and the registry's public key."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from projections.queries import AllocationRow, AllocationTotals, MeetingView
from registry.support.presentation import table, tonnes

PIE_GROUPS = ("wards", "cities", "towns and villages", "project's own events")
COLOURS = ("#2e7d32", "#1565c0", "#ef6c00", "#6d4c41")


def allocation_text(rows: Sequence[AllocationRow], totals: Sequence[AllocationTotals]) -> str:
    body = table(
        ("code", "municipality", "", "kind", "events", "allocated t", "offset t"),
        [
            (
                r.member_code,
                r.name_ja,
                r.name_en,
                r.kind,
                r.events_offset,
                tonnes(r.allocated_kg),
                tonnes(r.offset_kg),
            )
            for r in rows
        ],
        right=(4, 5, 6),
    )
    summary = table(
        ("group", "members", "participating", "events", "allocated t", "offset t"),
        [
            (
                s.label,
                s.members or "",
                s.participating or "",
                s.events_offset,
                tonnes(s.allocated_kg),
                tonnes(s.offset_kg),
            )
            for s in totals
        ],
        right=(1, 2, 3, 4, 5),
    )
    return body + "\n\n" + summary + "\n"


def allocation_csv(rows: Sequence[AllocationRow], totals: Sequence[AllocationTotals]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["row", "code", "name_ja", "name_en", "kind", "events", "allocated_kg", "offset_kg"]
    )
    for r in rows:
        writer.writerow(
            [
                "member",
                r.member_code,
                r.name_ja,
                r.name_en,
                r.kind,
                r.events_offset,
                r.allocated_kg,
                r.offset_kg,
            ]
        )
    for s in totals:
        writer.writerow(
            [
                "subtotal" if s.label not in ("total", "all offsets") else "total",
                "",
                s.label,
                "",
                "",
                s.events_offset,
                s.allocated_kg,
                s.offset_kg,
            ]
        )
    return buffer.getvalue()


def allocation_svg(totals: Sequence[AllocationTotals], title: str) -> str:
    """A pie of the retired tonnes by group, like the source document's chart."""
    by_label = {s.label: s for s in totals}
    slices = [
        (label, by_label[label].offset_kg, by_label[label].events_offset)
        for label in PIE_GROUPS
        if label in by_label
    ]
    whole = sum(kg for _label, kg, _events in slices) or 1
    cx, cy, radius = 200, 220, 150
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="880" height="420" viewBox="0 0 880 420" '
        'font-family="sans-serif">',
        '<rect width="880" height="420" fill="white"/>',
        f'<text x="20" y="32" font-size="18">{escape(title)}</text>',
    ]
    angle = -math.pi / 2
    for index, (label, kg, events) in enumerate(slices):
        sweep = 2 * math.pi * kg / whole
        x1, y1 = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
        x2, y2 = cx + radius * math.cos(angle + sweep), cy + radius * math.sin(angle + sweep)
        large = 1 if sweep > math.pi else 0
        parts.append(
            f'<path d="M{cx},{cy} L{x1:.2f},{y1:.2f} A{radius},{radius} 0 {large} 1 {x2:.2f},{y2:.2f} Z" '
            f'fill="{COLOURS[index]}" stroke="white" stroke-width="2"/>'
        )
        share = kg * 1000 // whole  # per mille, integer arithmetic
        y = 120 + index * 40
        parts.append(f'<rect x="390" y="{y - 14}" width="18" height="18" fill="{COLOURS[index]}"/>')
        parts.append(
            f'<text x="416" y="{y}" font-size="14">{escape(label)}: {tonnes(kg)} t, '
            f"{events} events ({share // 10}.{share % 10}%)</text>"
        )
        angle += sweep
    parts.append(
        f'<text x="390" y="{120 + len(slices) * 40 + 10}" font-size="14" font-weight="bold">'
        f"retired in all: {tonnes(whole)} t-CO2</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def certificate(
    meeting: MeetingView,
    organiser_name: str,
    pool_name: str,
    proof: dict[str, Any],
    registry_public_key: bytes,
) -> dict[str, Any]:
    """The proof fields sit at the top level, so the file itself is what the verifier reads."""
    return {
        **proof,
        "certificate": {
            "title": "Carbon offset retirement certificate",
            "pool": f"{pool_name} ({meeting.pool_id})",
            "meeting_id": meeting.meeting_id,
            "meeting": meeting.name,
            "held_on": str(meeting.held_on),
            "category": meeting.category,
            "organiser": f"{organiser_name} ({meeting.organiser_id})",
            "participants_expected": meeting.expected_participants,
            "participants_actual": meeting.actual_participants,
            "estimate_before_kg": meeting.estimate_kg,
            "calculated_after_kg": meeting.calculated_kg,
            "allocated_kg": meeting.allocated_kg,
            "retired_kg": meeting.retired_kg,
            "retired_t": tonnes(meeting.retired_kg or 0),
            "retirement_position": meeting.retired_position,
            "registry_public_key": registry_public_key.hex(),
            "verify_with": "python3 proof_verifier.py <this file> <registry public key>",
        },
    }


def write_report(
    directory: Path,
    rows: Sequence[AllocationRow],
    totals: Sequence[AllocationTotals],
    certificates: Sequence[dict[str, Any]],
    title: str,
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "allocation.txt").write_text(allocation_text(rows, totals), "utf-8")
    (directory / "allocation.csv").write_text(allocation_csv(rows, totals), "utf-8")
    (directory / "allocation.svg").write_text(allocation_svg(totals, title), "utf-8")
    folder = directory / "certificates"
    folder.mkdir(exist_ok=True)
    for document in certificates:
        name = f"{document['certificate']['meeting_id']}.json"
        (folder / name).write_text(
            json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8"
        )
