"""The FY2011 joint purchase of Tokyo's 62 municipalities (model IV), as commands.

Published figures this must reproduce (through the projections, never typed into them):
100 t of J-VER bought; 35 municipalities offset 47 meetings and events, 60.0 t in all
(wards 29 events 29.3 t, cities 15 events 23.0 t, towns and villages 3 events 7.7 t); the
project's own events (Eco-Products 2011: 1, study meetings: 29, briefings and staff
training: 3) take the remaining 40.0 t. The individual events are constructed here: each
has plausible inputs for the calculator, and the last event of each group is sized so the
group's calculated emissions meet its published total exactly."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from fractions import Fraction

from registry import reference
from registry.domain import commands as c
from registry.domain.emissions import (
    MG_PER_KG,
    Calculation,
    FactorTable,
    FuelUse,
    MeetingInputs,
    TravelLeg,
    calculate,
)

POOL_ID = "TOKYO62-FY2011"
POOL_NAME = "Green Tokyo joint carbon-offset purchase FY2011"
FISCAL_YEAR = 2011
OPERATOR = "tokyo-62-secretariat"
PROVIDER = "jver-provider"
PROJECT_ID = "JVERFOREST"
PURCHASE_KG = 100_000
# Published totals, kg: the scenario is built to meet them, the tests read them back.
TARGETS_KG = {"wards": 29_300, "cities": 23_000, "towns and villages": 7_700, "project": 40_000}
EVENT_COUNTS = {"wards": 29, "cities": 15, "towns and villages": 3, "project": 33}
# Each group's events are first scaled to land this far under the published total.
SCALED_SHARE = Fraction(97, 100)


@dataclass(frozen=True)
class PlannedMeeting:
    meeting_id: str
    organiser_id: str
    group: str
    name: str
    held_on: date
    category: str
    expected_participants: int
    actual_participants: int
    plan: MeetingInputs  # what the estimate is calculated from
    done: MeetingInputs  # what happened
    before: Calculation  # 事前算定: from the plan
    after: Calculation  # 事後算定: from what happened


def participating_members() -> dict[str, list[tuple[str, int]]]:
    """35 municipalities: 20 wards (9 of them hold two events), 13 cities (two hold two),
    one town and one village (the town holds two)."""
    by_kind = {
        kind: [m.code for m in reference.tokyo_62() if m.kind == kind]
        for kind in ("ward", "city", "town", "village")
    }
    wards = [(code, 2 if index < 9 else 1) for index, code in enumerate(by_kind["ward"][:20])]
    cities = [(code, 2 if index < 2 else 1) for index, code in enumerate(by_kind["city"][:13])]
    towns = [(by_kind["town"][0], 2), (by_kind["village"][0], 1)]
    return {"wards": wards, "cities": cities, "towns and villages": towns}


def _inputs(
    rng: random.Random, participants: int, distance_km: tuple[int, int], heavy: bool
) -> MeetingInputs:
    low, high = distance_km
    heating = (
        FuelUse("kerosene", rng.randint(0, 40))
        if rng.random() < 0.4
        else FuelUse("city_gas", rng.randint(0, 60))
    )
    return MeetingInputs(
        electricity_kwh=rng.randint(40, 400) * (3 if heavy else 1),
        travel=(
            TravelLeg("rail", participants, rng.randint(low, high)),
            TravelLeg("bus", participants // 3, rng.randint(0, low)),
            TravelLeg("car", participants // (2 if heavy else 6), rng.randint(0, low)),
        ),
        paper_kg=rng.randint(2, 40),
        waste_kg=rng.randint(5, 80),
        heating=(heating,),
    )


def _top_up(inputs: MeetingInputs, needed_kg: int, table: FactorTable) -> MeetingInputs:
    """Add venue electricity, in whole kWh, so that the calculated total is exactly
    needed_kg: the fewest kWh that bring it to needed_kg - 0.5 kg or more, which rounds to
    needed_kg as long as one kWh weighs less than a kilogram."""
    factor = table.factor("electricity")
    if factor is None or factor.mg_per_unit >= MG_PER_KG:
        raise ValueError("the top-up needs an electricity factor under 1 kg per kWh")
    base_mg = calculate(inputs, table).exact_mg
    short_mg = needed_kg * MG_PER_KG - MG_PER_KG // 2 - base_mg
    if short_mg <= 0:
        raise ValueError("the other events already exceed the group's published total")
    extra_kwh = -(-short_mg // factor.mg_per_unit)  # rounded up
    topped = replace(inputs, electricity_kwh=inputs.electricity_kwh + extra_kwh)
    if calculate(topped, table).total_kg != needed_kg:
        raise ArithmeticError("the electricity top-up does not meet the total")
    return topped


def _dates(rng: random.Random) -> Iterator[date]:
    """Days within FY2011 (1 June 2011 to 17 March 2012 at the latest)."""
    start = date(2011, 6, 1)
    while True:
        yield start + timedelta(days=rng.randint(0, 290))


PREFIXES = {"wards": "W", "cities": "C", "towns and villages": "T", "project": "P"}
# (group, organiser, meeting name, category)
Organiser = tuple[str, str, str, str]
# (organiser, name, category, expected participants, actual participants, inputs planned,
#  inputs as held), before the group is scaled to its published total
Draft = tuple[str, str, str, int, int, MeetingInputs, MeetingInputs]


def plan_meetings(table: FactorTable, seed: int = 2011) -> list[PlannedMeeting]:
    rng = random.Random(seed)
    dates = _dates(rng)
    organisers = _organisers()
    planned: list[PlannedMeeting] = []
    for group in TARGETS_KG:
        rows = [row for row in organisers if row[0] == group]
        assert len(rows) == EVENT_COUNTS[group], (group, len(rows))
        # The drafts draw from `rng` before the dates do: the order of draws is the plan.
        drafts = _drafts(rng, group, rows)
        planned += _meet_group_total(group, drafts, dates, table)
    return planned


def _organisers() -> list[Organiser]:
    """Every meeting's organiser, name and category: the members' events, then the project's."""
    organisers: list[Organiser] = []
    for group, members in participating_members().items():
        names = {m.code: m.name_en for m in reference.tokyo_62()}
        for code, count in members:
            for number in range(count):
                kind = ("Environment forum", "Eco festival", "Staff training on climate action")[
                    (number + len(code)) % 3
                ]
                organisers.append(
                    (
                        group,
                        code,
                        f"{names[code]} {kind}",
                        "training" if "training" in kind else "event",
                    )
                )
    organisers.append(("project", OPERATOR, "Eco-Products 2011 (Tokyo Big Sight)", "exhibition"))
    organisers += [
        ("project", OPERATOR, f"Carbon-offset study meeting {n}", "study_meeting")
        for n in range(1, 30)
    ]
    organisers += [
        ("project", OPERATOR, "Briefing for participating municipalities", "briefing"),
        ("project", OPERATOR, "Staff training: calculating event emissions", "training"),
        ("project", OPERATOR, "Briefing on the FY2011 results", "briefing"),
    ]
    return organisers


def _drafts(rng: random.Random, group: str, rows: Sequence[Organiser]) -> list[Draft]:
    """Participants and calculator inputs, planned and as held, for each of a group's meetings."""
    drafts = []
    for _group, organiser, name, category in rows:
        expected = rng.randint(40, 400)
        actual = max(1, int(expected * rng.uniform(0.85, 1.15)))
        distance = (
            (8, 30)
            if group in ("wards", "project")
            else (20, 60)
            if group == "cities"
            else (60, 120)
        )
        heavy = group == "towns and villages" or "Eco-Products" in name
        weight = 25 if "Eco-Products" in name else 1  # the exhibition dwarfs a study meeting
        plan = _inputs(random.Random(rng.random()), expected * weight, distance, heavy)
        done = _inputs(random.Random(rng.random()), actual * weight, distance, heavy)
        drafts.append((organiser, name, category, expected * weight, actual * weight, plan, done))
    return drafts


def _meet_group_total(
    group: str, drafts: Sequence[Draft], dates: Iterator[date], table: FactorTable
) -> list[PlannedMeeting]:
    """Scale the group so its events land just under the published total, then size the
    last event's venue electricity to meet it exactly."""
    natural_mg = sum(calculate(done, table).exact_mg for *_rest, done in drafts)
    factor = Fraction(TARGETS_KG[group] * MG_PER_KG, natural_mg) * SCALED_SHARE
    planned = []
    group_total = 0
    for index, (organiser, name, category, expected, actual, plan, done) in enumerate(drafts):
        plan, done = _scaled(plan, factor), _scaled(done, factor)
        if index == len(drafts) - 1:
            done = _top_up(done, TARGETS_KG[group] - group_total, table)
        after = calculate(done, table)
        group_total += after.total_kg
        held_on = date(2011, 12, 15) if "Eco-Products" in name else next(dates)
        planned.append(
            PlannedMeeting(
                f"{PREFIXES[group]}{index + 1:02d}",
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
                after,
            )
        )
    if group_total != TARGETS_KG[group]:
        raise ArithmeticError(f"{group}: {group_total} kg, published {TARGETS_KG[group]} kg")
    return planned


def _scaled(inputs: MeetingInputs, factor: Fraction) -> MeetingInputs:
    """Every quantity times `factor`, rounded to a whole unit (half up); travellers stay."""

    def scale(value: int) -> int:
        return int(value * factor + Fraction(1, 2))

    return MeetingInputs(
        scale(inputs.electricity_kwh),
        tuple(replace(leg, distance_km=scale(leg.distance_km)) for leg in inputs.travel),
        scale(inputs.paper_kg),
        scale(inputs.waste_kg),
        tuple(replace(use, amount=scale(use.amount)) for use in inputs.heating),
    )


Send = Callable[[str, Sequence[c.CommandBody]], None]


def commands(
    meetings: Sequence[PlannedMeeting], table: FactorTable | None = None
) -> Iterator[tuple[str, list[c.CommandBody]]]:
    """The programme as (actor, commands) steps, in order; each step is one batch. The
    factor table the meetings were planned with is registered first."""
    table = table or reference.emission_factors()
    members = tuple(m.code for m in reference.tokyo_62())
    yield OPERATOR, [c.RegisterFactorTable(table.version, table.factors)]
    yield OPERATOR, [c.OpenPool(POOL_ID, POOL_NAME, FISCAL_YEAR, members)]
    yield (
        PROVIDER,
        [c.IssueCredits(PROJECT_ID, date(2011, 4, 1), date(2012, 3, 31), PURCHASE_KG, PROVIDER)],
    )
    yield (
        PROVIDER,
        [c.TransferCredits(PROVIDER, OPERATOR, PURCHASE_KG, memo=f"joint purchase for {POOL_ID}")],
    )
    yield OPERATOR, [c.FundPool(POOL_ID, PURCHASE_KG)]  # bought into the pool's own holding
    yield from meeting_commands(POOL_ID, meetings)
    yield OPERATOR, [c.AllocatePool(POOL_ID, PURCHASE_KG)]
    yield (
        OPERATOR,
        [
            c.RetireForMeeting(POOL_ID, m.meeting_id)
            for m in sorted(meetings, key=lambda m: m.meeting_id)
        ],
    )


def meeting_commands(
    pool_id: str, meetings: Sequence[PlannedMeeting]
) -> Iterator[tuple[str, list[c.CommandBody]]]:
    """Each organiser registers its meetings with their estimates, in the order given (the
    registration order decides ties in the split), then records what happened."""
    by_organiser: dict[str, list[PlannedMeeting]] = {}
    for meeting in meetings:
        by_organiser.setdefault(meeting.organiser_id, []).append(meeting)
    for organiser, own in by_organiser.items():
        yield (
            organiser,
            [
                c.RegisterMeeting(
                    pool_id,
                    m.meeting_id,
                    m.name,
                    m.held_on,
                    m.category,
                    m.expected_participants,
                    m.before.total_kg,
                    m.before.basis(),
                    m.before.table_version,
                    m.plan,
                )
                for m in own
            ],
        )
    for organiser, own in by_organiser.items():
        yield (
            organiser,
            [
                c.RecordMeetingResult(
                    pool_id,
                    m.meeting_id,
                    m.actual_participants,
                    m.after.total_kg,
                    m.after.basis(),
                    m.after.table_version,
                    m.done,
                )
                for m in own
            ],
        )
