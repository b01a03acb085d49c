"""The emission calculator for meetings and events: electricity, participants' travel by
mode and distance, printed materials, waste and venue heating fuel, each times a factor
from a versioned table that the operator registered in the history.

Exact integer arithmetic: every input is a whole number of its unit, every factor a whole
number of milligrams CO2e per unit (mg = 10^-6 kg, fine enough for any published factor:
0.375 kg-CO2/kWh is 375,000 mg/kWh). The lines are added in milligrams and the total is
rounded once, half up, to whole kilograms: (total_mg + 500,000) // 1,000,000. The same
inputs and table always give the same result, so the rules can decide the figure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from registry.domain.checks import CheckCode, Rejection
from registry.domain.parties import validate_name

MG_PER_KG = 1_000_000
TRAVEL_MODES = ("rail", "bus", "car", "air")
FUELS = ("kerosene", "city_gas", "lpg")
# The unit each item's input is counted in: a factor table states it, and must agree.
ITEM_UNITS = {
    "electricity": "kWh",
    **dict.fromkeys(TRAVEL_MODES, "passenger-km"),
    "paper": "kg",
    "waste": "kg",
    "kerosene": "L",
    "city_gas": "m3",
    "lpg": "kg",
}
FACTOR_MG_PER_UNIT_MAX = 10**9  # a tonne CO2e per unit: above any real factor
INPUT_QUANTITY_MAX = 10**9  # per input, in its unit
TRAVEL_LEGS_MAX = 50
FUEL_USES_MAX = len(FUELS) * 4
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")


@dataclass(frozen=True, slots=True)
class Factor:
    item: str  # one of ITEM_UNITS
    unit: str  # the unit of the item's input, as ITEM_UNITS names it
    mg_per_unit: int  # milligrams CO2e per unit
    source: str


@dataclass(frozen=True, slots=True)
class FactorTable:
    version: str
    factors: tuple[Factor, ...]

    def factor(self, item: str) -> Factor | None:
        return next((factor for factor in self.factors if factor.item == item), None)


@dataclass(frozen=True, slots=True)
class TravelLeg:
    mode: str  # one of TRAVEL_MODES
    travellers: int
    distance_km: int  # travelled by each of them, there and back


@dataclass(frozen=True, slots=True)
class FuelUse:
    fuel: str  # one of FUELS
    amount: int  # in the fuel's unit (ITEM_UNITS)


@dataclass(frozen=True, slots=True)
class MeetingInputs:
    electricity_kwh: int = 0
    travel: tuple[TravelLeg, ...] = ()
    paper_kg: int = 0
    waste_kg: int = 0
    heating: tuple[FuelUse, ...] = ()


@dataclass(frozen=True, slots=True)
class EmissionLine:
    item: str
    quantity: int  # in `unit`; passenger-km for travel
    unit: str
    mg_per_unit: int
    mg: int


@dataclass(frozen=True)
class Calculation:
    table_version: str
    lines: tuple[EmissionLine, ...]

    @property
    def exact_mg(self) -> int:
        return sum(line.mg for line in self.lines)

    @property
    def total_kg(self) -> int:
        """The one rounding: half up, on the total, to whole kilograms."""
        return (self.exact_mg + MG_PER_KG // 2) // MG_PER_KG

    def basis(self) -> str:
        """A compact, human-readable record of how the total was reached."""
        parts = [
            f"{line.item} {line.quantity} {line.unit} x {line.mg_per_unit} mg"
            for line in self.lines
        ]
        return (
            f"factors {self.table_version}: "
            + "; ".join(parts)
            + f" = {kg_text(self.exact_mg)} kg -> {self.total_kg} kg"
        )


def kg_text(quantity_mg: int) -> str:
    """181_000_000 mg -> '181.000000'."""
    whole, rest = divmod(quantity_mg, MG_PER_KG)
    return f"{whole}.{rest:06d}"


def validate_factor_table(version: str, factors: tuple[Factor, ...]) -> None:
    if not _VERSION.match(version):
        raise Rejection(
            CheckCode.INVALID_IDENTIFIER,
            f"factor table version {version!r}: 2-64 letters, digits, '.', '_' or '-'",
        )
    if not 0 < len(factors) <= len(ITEM_UNITS):
        raise Rejection(CheckCode.INVALID_FACTOR, f"1 to {len(ITEM_UNITS)} factors")
    seen: set[str] = set()
    for factor in factors:
        if factor.item not in ITEM_UNITS or factor.item in seen:
            raise Rejection(
                CheckCode.INVALID_FACTOR,
                f"item {factor.item!r}: once each, one of {sorted(ITEM_UNITS)}",
            )
        seen.add(factor.item)
        if factor.unit != ITEM_UNITS[factor.item]:
            raise Rejection(
                CheckCode.INVALID_FACTOR,
                f"{factor.item} is counted in {ITEM_UNITS[factor.item]}, not {factor.unit!r}",
            )
        if not 0 < factor.mg_per_unit <= FACTOR_MG_PER_UNIT_MAX:
            raise Rejection(
                CheckCode.INVALID_FACTOR, f"{factor.item}: {factor.mg_per_unit} mg per unit"
            )
        validate_name(f"source of {factor.item}", factor.source)


def validate_inputs(inputs: MeetingInputs) -> None:
    if len(inputs.travel) > TRAVEL_LEGS_MAX or len(inputs.heating) > FUEL_USES_MAX:
        raise Rejection(
            CheckCode.INVALID_CALCULATION_INPUTS,
            f"at most {TRAVEL_LEGS_MAX} travel legs and {FUEL_USES_MAX} fuel uses",
        )
    for leg in inputs.travel:
        if leg.mode not in TRAVEL_MODES:
            raise Rejection(
                CheckCode.INVALID_CALCULATION_INPUTS, f"travel mode {leg.mode!r}; {TRAVEL_MODES}"
            )
    for use in inputs.heating:
        if use.fuel not in FUELS:
            raise Rejection(CheckCode.INVALID_CALCULATION_INPUTS, f"fuel {use.fuel!r}; {FUELS}")
    quantities = [
        ("electricity_kwh", inputs.electricity_kwh),
        ("paper_kg", inputs.paper_kg),
        ("waste_kg", inputs.waste_kg),
        *((f"{leg.mode} travellers", leg.travellers) for leg in inputs.travel),
        *((f"{leg.mode} distance_km", leg.distance_km) for leg in inputs.travel),
        *((use.fuel, use.amount) for use in inputs.heating),
    ]
    for name, quantity in quantities:
        if not 0 <= quantity <= INPUT_QUANTITY_MAX:
            raise Rejection(
                CheckCode.INVALID_CALCULATION_INPUTS,
                f"{name} {quantity} is out of range 0..{INPUT_QUANTITY_MAX}",
            )


def calculate(inputs: MeetingInputs, table: FactorTable) -> Calculation:
    """One line per non-zero input, in a fixed order: electricity, travel legs as given,
    paper, waste, fuels as given. Raises Rejection for invalid inputs or a missing factor."""
    validate_inputs(inputs)
    quantities = [
        ("electricity", inputs.electricity_kwh),
        *((leg.mode, leg.travellers * leg.distance_km) for leg in inputs.travel),
        ("paper", inputs.paper_kg),
        ("waste", inputs.waste_kg),
        *((use.fuel, use.amount) for use in inputs.heating),
    ]
    lines = []
    for item, quantity in quantities:
        if quantity == 0:
            continue  # an unused item needs no factor
        factor = table.factor(item)
        if factor is None:
            raise Rejection(CheckCode.MISSING_FACTOR, f"{item} in {table.version}")
        lines.append(
            EmissionLine(
                item, quantity, factor.unit, factor.mg_per_unit, quantity * factor.mg_per_unit
            )
        )
    return Calculation(table.version, tuple(lines))
