"""The emission calculator for meetings and events: electricity, participants' travel by
mode and distance, printed materials, waste and venue heating fuel, each times a factor
from a versioned table. Exact decimal arithmetic; the total is rounded once, half up, to
whole kilograms. The same inputs and table always give the same result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

TRAVEL_MODES = ("rail", "bus", "car", "air")
FUELS = ("kerosene", "city_gas", "lpg")


@dataclass(frozen=True, slots=True)
class Factor:
    item: str
    unit: str
    kg_per_unit: Decimal
    source: str


@dataclass(frozen=True)
class FactorTable:
    version: str
    factors: Mapping[str, Factor]

    def __getitem__(self, item: str) -> Factor:
        return self.factors[item]


@dataclass(frozen=True)
class MeetingInputs:
    electricity_kwh: Decimal = Decimal(0)
    travel_passenger_km: Mapping[str, Decimal] = field(default_factory=dict)  # by mode
    paper_kg: Decimal = Decimal(0)
    waste_kg: Decimal = Decimal(0)
    heating: Mapping[str, Decimal] = field(default_factory=dict)  # by fuel, in its unit


@dataclass(frozen=True, slots=True)
class EmissionLine:
    item: str
    quantity: Decimal
    unit: str
    kg_per_unit: Decimal
    kg: Decimal


@dataclass(frozen=True)
class Calculation:
    table_version: str
    lines: tuple[EmissionLine, ...]

    @property
    def exact_kg(self) -> Decimal:
        return sum((line.kg for line in self.lines), Decimal(0))

    @property
    def total_kg(self) -> int:
        return int(self.exact_kg.quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def basis(self) -> str:
        """A compact, human-readable record of how the total was reached, stored with it."""
        parts = [
            f"{line.item} {line.quantity} {line.unit} x {line.kg_per_unit}"
            for line in self.lines
            if line.quantity
        ]
        return (
            f"factors {self.table_version}: "
            + "; ".join(parts)
            + f" = {self.exact_kg} kg -> {self.total_kg} kg"
        )


def calculate(inputs: MeetingInputs, table: FactorTable) -> Calculation:
    quantities: list[tuple[str, Decimal]] = [("electricity", inputs.electricity_kwh)]
    for mode, passenger_km in sorted(inputs.travel_passenger_km.items()):
        if mode not in TRAVEL_MODES:
            raise ValueError(f"unknown travel mode {mode!r}")
        quantities.append((mode, passenger_km))
    quantities += [("paper", inputs.paper_kg), ("waste", inputs.waste_kg)]
    for fuel, amount in sorted(inputs.heating.items()):
        if fuel not in FUELS:
            raise ValueError(f"unknown fuel {fuel!r}")
        quantities.append((fuel, amount))
    lines = []
    for item, quantity in quantities:
        if quantity < 0:
            raise ValueError(f"{item}: a negative quantity {quantity}")
        factor = table[item]
        lines.append(
            EmissionLine(
                item, quantity, factor.unit, factor.kg_per_unit, quantity * factor.kg_per_unit
            )
        )
    return Calculation(table.version, tuple(lines))
