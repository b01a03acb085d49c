"""Formatting for people: quantities as t-CO2 with exact integer arithmetic, and tables."""

from __future__ import annotations

from collections.abc import Sequence


def tonnes(quantity_kg: int) -> str:
    """60000 -> '60.000'. Integer arithmetic only: a quantity is never a float."""
    sign = "-" if quantity_kg < 0 else ""
    whole, rest = divmod(abs(quantity_kg), 1000)
    return f"{sign}{whole:,}.{rest:03d}"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()
) -> str:
    cells = [list(map(str, headers))] + [[str(cell) for cell in row] for row in rows]
    widths = [max(_width(row[index]) for row in cells) for index in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = []
        for index, cell in enumerate(row):
            padding = " " * (widths[index] - _width(cell))
            parts.append(padding + cell if index in right else cell + padding)
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def _width(text: str) -> int:
    # East Asian wide characters take two columns in a terminal.
    return sum(
        2 if "\u3000" <= char <= "\uffef" or "\u4e00" <= char <= "\u9fff" else 1 for char in text
    )
