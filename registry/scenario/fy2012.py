"""A second, smaller pool beside FY2011: five members' and two of the secretariat's events
of FY2012, calculated with the same registered factor table. The secretariat buys 3.5 t
into the pool and splits 3.2 t over meetings calculated at 3,085 kg in all, so the split
has remainders (the extra kilograms go to the largest remainders, equal ones to the
meeting registered first); it retires every share and returns the 0.3 t left to itself.
Nothing of it touches the FY2011 pool: its credits, its table and its figures stay.

The events are constructed (no report of FY2012 is reproduced); their inputs are plain
numbers a reader can recompute by hand with the factor table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

from registry import reference
from registry.domain import commands as c
from registry.domain.emissions import FactorTable, FuelUse, MeetingInputs, TravelLeg, calculate
from registry.scenario.tokyo62 import OPERATOR, PROJECT_ID, PROVIDER, PlannedMeeting
from registry.scenario.tokyo62 import meeting_commands as _meeting_commands

POOL_ID = "TOKYO62-FY2012"
POOL_NAME = "Green Tokyo joint carbon-offset purchase FY2012"
FISCAL_YEAR = 2012
PURCHASE_KG = 3_500
ALLOCATED_KG = 3_200
RETURNED_KG = PURCHASE_KG - ALLOCATED_KG
MEMBER_NAMES = ("Chiyoda", "Setagaya", "Hachioji", "Musashino", "Okutama")


def _inputs(participants: int, kwh: int, rail_km: int, paper_kg: int, gas_m3: int) -> MeetingInputs:
    return MeetingInputs(
        electricity_kwh=kwh,
        travel=(
            TravelLeg("rail", participants, rail_km),
            TravelLeg("bus", participants // 4, 6),
        ),
        paper_kg=paper_kg,
        waste_kg=participants // 5,
        heating=(FuelUse("city_gas", gas_m3),),
    )


# (member or None for the secretariat, meeting id, name, day, category, expected, actual,
#  kWh planned, kWh used, rail km each way and back, paper kg, city gas m3)
_MEETINGS = (
    (
        "Chiyoda",
        "W01",
        "Chiyoda environment forum 2012",
        date(2012, 6, 9),
        "event",
        180,
        173,
        320,
        341,
        16,
        22,
        35,
    ),
    (
        "Setagaya",
        "W02",
        "Setagaya eco festival 2012",
        date(2012, 10, 20),
        "event",
        420,
        455,
        610,
        587,
        14,
        48,
        60,
    ),
    (
        "Hachioji",
        "C01",
        "Hachioji climate action forum",
        date(2012, 7, 14),
        "event",
        260,
        241,
        380,
        402,
        38,
        30,
        42,
    ),
    (
        "Musashino",
        "C02",
        "Musashino staff training on climate action",
        date(2012, 11, 8),
        "training",
        90,
        88,
        150,
        151,
        22,
        9,
        18,
    ),
    (
        "Okutama",
        "T01",
        "Okutama forest and climate festival",
        date(2013, 2, 16),
        "event",
        200,
        214,
        900,
        876,
        96,
        25,
        120,
    ),
    (
        None,
        "P01",
        "Carbon-offset study meeting (FY2012) 1",
        date(2012, 9, 5),
        "study_meeting",
        60,
        61,
        120,
        120,
        20,
        6,
        15,
    ),
    (
        None,
        "P02",
        "Briefing on the FY2012 results",
        date(2013, 3, 22),
        "briefing",
        120,
        117,
        200,
        196,
        24,
        12,
        20,
    ),
)


def members() -> tuple[str, ...]:
    return tuple(sorted(reference.by_name(name).code for name in MEMBER_NAMES))


def plan_meetings(table: FactorTable) -> list[PlannedMeeting]:
    planned = []
    for row in _MEETINGS:
        member, meeting_id, name, held_on, category, expected, actual, *rest = row
        kwh_planned, kwh_used, rail_km, paper_kg, gas_m3 = rest
        plan = _inputs(expected, kwh_planned, rail_km, paper_kg, gas_m3)
        done = _inputs(actual, kwh_used, rail_km, paper_kg, gas_m3)
        organiser = OPERATOR if member is None else reference.by_name(member).code
        group = "project" if member is None else reference.by_name(member).kind
        planned.append(
            PlannedMeeting(
                meeting_id,
                organiser,
                group,
                name,
                held_on,
                category,
                expected,
                actual,
                plan,
                done,
                calculate(plan, table),
                calculate(done, table),
            )
        )
    return planned


def commands(meetings: Sequence[PlannedMeeting]) -> Iterator[tuple[str, list[c.CommandBody]]]:
    """After tokyo62.commands (which registered the factor table): the whole FY2012 round."""
    yield from purchase(meetings)
    yield from split(meetings)


def purchase(meetings: Sequence[PlannedMeeting]) -> Iterator[tuple[str, list[c.CommandBody]]]:
    """A FY2012 purchase bought into the FY2012 pool, and its meetings, estimated before and
    calculated after."""
    vintage = (date(2012, 4, 1), date(2013, 3, 31))
    yield PROVIDER, [c.IssueCredits(PROJECT_ID, *vintage, PURCHASE_KG, PROVIDER)]
    yield (
        PROVIDER,
        [c.TransferCredits(PROVIDER, OPERATOR, PURCHASE_KG, memo=f"joint purchase for {POOL_ID}")],
    )
    yield OPERATOR, [c.OpenPool(POOL_ID, POOL_NAME, FISCAL_YEAR, members())]
    yield OPERATOR, [c.FundPool(POOL_ID, PURCHASE_KG)]
    yield from _meeting_commands(POOL_ID, meetings)


def split(meetings: Sequence[PlannedMeeting]) -> Iterator[tuple[str, list[c.CommandBody]]]:
    """The split of 3.2 t with its remainders, a retirement per meeting, and the 0.3 t the
    pool holds beyond them returned to the secretariat, which bought it."""
    yield OPERATOR, [c.AllocatePool(POOL_ID, ALLOCATED_KG)]
    yield OPERATOR, [c.RetireForMeeting(POOL_ID, m.meeting_id) for m in meetings]
    yield OPERATOR, [c.ReturnPoolRemainder(POOL_ID, OPERATOR, RETURNED_KG)]
