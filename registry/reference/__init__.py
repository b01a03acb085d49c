"""Reference data shipped with the product: Tokyo's 62 municipalities and Iwaizumi."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources

from registry.domain.emissions import MG_PER_KG, Factor, FactorTable
from registry.domain.parties import is_valid_municipality_code


@dataclass(frozen=True, slots=True)
class Municipality:
    code: str  # 6-digit local government code with check digit
    name_ja: str
    name_en: str
    kind: str  # ward, city, town or village
    prefecture: str
    in_tokyo_62: bool


@cache
def municipalities() -> tuple[Municipality, ...]:
    text = resources.files("registry.reference").joinpath("municipalities.csv").read_text("utf-8")
    rows = [
        Municipality(
            row["code"],
            row["name_ja"],
            row["name_en"],
            row["kind"],
            row["prefecture"],
            row["in_tokyo_62"] == "yes",
        )
        for row in csv.DictReader(text.splitlines())
    ]
    assert all(is_valid_municipality_code(row.code) for row in rows)
    return tuple(rows)


def by_name(name_en: str) -> Municipality:
    for municipality in municipalities():
        if municipality.name_en.lower() == name_en.lower():
            return municipality
    raise KeyError(name_en)


def tokyo_62() -> tuple[Municipality, ...]:
    members = tuple(m for m in municipalities() if m.in_tokyo_62)
    assert len(members) == 62
    return members


@cache
def emission_factors() -> FactorTable:
    """The shipped factor table (registry/reference/emission_factors.v1.json), as the
    operator registers it in the history: the published kg-CO2 per unit, converted exactly
    to whole milligrams per unit (a factor with finer digits is refused, not rounded)."""
    text = (
        resources.files("registry.reference")
        .joinpath("emission_factors.v1.json")
        .read_text("utf-8")
    )
    raw = json.loads(text)
    factors = []
    for item, spec in raw["factors"].items():
        mg = Decimal(spec["kg_per_unit"]) * MG_PER_KG
        if mg != mg.to_integral_value():
            raise ValueError(f"{item}: {spec['kg_per_unit']} kg is not a whole number of mg")
        factors.append(Factor(item, spec["unit"], int(mg), spec["source"]))
    return FactorTable(raw["version"], tuple(factors))
