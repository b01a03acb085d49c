"""The allocation report of one joint-purchase pool: the table of its members with
subtotals and totals as text and CSV (estimate before and calculation after side by side),
its meetings in registration order, a pie chart as SVG, and a retirement certificate per
meeting that anyone can check against the log with `proof_verifier.py` and the registry's
public key."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from projections.queries import AllocationRow, AllocationTotals, MeetingView, PoolView
from registry.support.presentation import table, tonnes

PIE_GROUPS = ("wards", "cities", "towns and villages", "project's own events")
COLOURS = ("#2e7d32", "#1565c0", "#ef6c00", "#6d4c41")


def allocation_text(rows: Sequence[AllocationRow], totals: Sequence[AllocationTotals]) -> str:
    """The member rows and the subtotals, estimate before and calculation after side by
    side with their difference (calculated less estimated)."""
    body = table(
        (
            "code",
            "municipality",
            "",
            "kind",
            "events",
            "allocated t",
            "offset t",
            "estimate t",
            "calculated t",
            "difference t",
        ),
        [
            (
                r.member_code,
                r.name_ja,
                r.name_en,
                r.kind,
                r.events_offset,
                *_tonnes(r.allocated_kg, r.offset_kg, r.estimate_kg),
                *_tonnes(r.calculated_kg, r.difference_kg),
            )
            for r in rows
        ],
        right=(4, 5, 6, 7, 8, 9),
    )
    summary = table(
        (
            "group",
            "members",
            "participating",
            "events",
            "allocated t",
            "offset t",
            "estimate t",
            "calculated t",
            "difference t",
        ),
        [
            (
                s.label,
                s.members or "",
                s.participating or "",
                s.events_offset,
                *_tonnes(s.allocated_kg, s.offset_kg, s.estimate_kg),
                *_tonnes(s.calculated_kg, s.difference_kg),
            )
            for s in totals
        ],
        right=(1, 2, 3, 4, 5, 6, 7, 8),
    )
    return body + "\n\n" + summary + "\n"


def _tonnes(*quantities_kg: int) -> tuple[str, ...]:
    return tuple(tonnes(kg) for kg in quantities_kg)


def allocation_header(pool: PoolView) -> str:
    """One pool's own holding: what came in, what the split and the retirements took."""
    return (
        f"pool {pool.pool_id} ({pool.name}), FY{pool.fiscal_year}: bought in"
        f" {tonnes(pool.funded_kg)} t, carried in {tonnes(pool.carried_in_kg)} t;"
        f" allocated {tonnes(pool.allocated_kg or 0)} t, retired {tonnes(pool.retired_kg)} t;"
        f" returned {tonnes(pool.returned_kg)} t, carried out {tonnes(pool.carried_out_kg)} t;"
        f" held now {tonnes(pool.held_kg)} t"
    )


def meetings_text(meetings: Sequence[MeetingView]) -> str:
    """The pool's meetings in registration order (the order that breaks ties in the split)."""
    return (
        table(
            (
                "meeting",
                "organiser",
                "held on",
                "estimate kg",
                "calculated kg",
                "difference kg",
                "allocated kg",
                "retired kg",
            ),
            [
                (
                    m.meeting_id,
                    m.organiser_id,
                    m.held_on,
                    m.estimate_kg,
                    _or_blank(m.calculated_kg),
                    _or_blank(m.difference_kg),
                    _or_blank(m.allocated_kg),
                    _or_blank(m.retired_kg),
                )
                for m in meetings
            ],
            right=(3, 4, 5, 6, 7),
        )
        + "\n"
    )


def _or_blank(value: int | None) -> object:
    return "" if value is None else value


def allocation_csv(rows: Sequence[AllocationRow], totals: Sequence[AllocationTotals]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "row",
            "code",
            "name_ja",
            "name_en",
            "kind",
            "events",
            "allocated_kg",
            "offset_kg",
            "estimate_kg",
            "calculated_kg",
            "difference_kg",
        ]
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
                r.estimate_kg,
                r.calculated_kg,
                r.difference_kg,
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
                s.estimate_kg,
                s.calculated_kg,
                s.difference_kg,
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
            "factor_table": meeting.calculation_table_version,
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
    meetings: Sequence[MeetingView] = (),
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    text = allocation_text(rows, totals)
    if meetings:
        text += "\n" + meetings_text(meetings)
    (directory / "allocation.txt").write_text(text, "utf-8")
    (directory / "allocation.csv").write_text(allocation_csv(rows, totals), "utf-8")
    (directory / "allocation.svg").write_text(allocation_svg(totals, title), "utf-8")
    folder = directory / "certificates"
    folder.mkdir(exist_ok=True)
    for document in certificates:
        name = f"{document['certificate']['meeting_id']}.json"
        (folder / name).write_text(
            json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8"
        )
