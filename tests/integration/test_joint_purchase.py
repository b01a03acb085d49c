"""Model IV end to end on the write side, the projections and the audit: the FY2011 joint
purchase reproduces every published total to the kilogram; pools hold their credits (two
pools never share a kilogram), every table is scoped to its pool, calculations are the
rules', and uneven splits keep their remainders exact all the way through."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import sqlalchemy as sa

from projections import queries, tables
from registry import reference
from registry.audit.auditor import Auditor
from registry.audit.proofs import inclusion_documents
from registry.audit.replay import verify_history
from registry.audit.sources import DatabaseSource
from registry.domain import allocation
from registry.domain import commands as c
from registry.domain import events as ev
from registry.domain.checks import CheckCode
from registry.domain.emissions import Factor, MeetingInputs
from registry.domain.invariants import invariant_violations
from registry.domain.records import pool_holder
from registry.scenario import fy2012, tokyo62
from registry.transparency.proof_verifier import verify_proof_document
from tests.support.programme import Programme, project

OPERATOR, PROVIDER = tokyo62.OPERATOR, tokyo62.PROVIDER
AKISHIMA, MUSASHINO, CHIYODA = "132071", "132039", "131016"
# A table where a meeting's figure is its kWh: 1 kg CO2e per kWh, exactly 1,000,000 mg.
KWH_TABLE = c.RegisterFactorTable(
    "test-one-kg-per-kwh", (Factor("electricity", "kWh", 1_000_000, "test: 1 kg per kWh"),)
)


def buy(programme: Programme, quantity_kg: int, buyer: str = OPERATOR, year: int = 2012) -> None:
    vintage = (date(year, 4, 1), date(year + 1, 3, 31))
    programme.ok(PROVIDER, [c.IssueCredits(tokyo62.PROJECT_ID, *vintage, quantity_kg, buyer)])


def meeting(
    programme: Programme,
    pool_id: str,
    organiser: str,
    meeting_id: str,
    kg: int,
    held_on: date = date(2012, 6, 1),
) -> None:
    """Registered with an estimate of `kg` and calculated at `kg` (kWh under KWH_TABLE)."""
    inputs = MeetingInputs(electricity_kwh=kg)
    version = KWH_TABLE.version
    name = f"Meeting {meeting_id}"
    programme.ok(
        organiser,
        [
            c.RegisterMeeting(
                pool_id, meeting_id, name, held_on, "event", 10, kg, "", version, inputs
            )
        ],
    )
    programme.ok(
        organiser, [c.RecordMeetingResult(pool_id, meeting_id, 10, kg, "", version, inputs)]
    )


def open_pool(programme: Programme, pool_id: str, year: int, members: tuple[str, ...]) -> None:
    programme.ok(OPERATOR, [c.OpenPool(pool_id, f"Pool {pool_id}", year, members)])


def run_fy2011(programme: Programme) -> None:
    table = reference.emission_factors()
    for actor, bodies in tokyo62.commands(tokyo62.plan_meetings(table), table):
        programme.ok(actor, bodies)


def test_the_fy2011_programme_reproduces_every_published_total(
    programme: Programme, sqlite_url: str, tmp_path: Path
) -> None:
    run_fy2011(programme)
    store = project(sqlite_url, tmp_path)
    holder = pool_holder(tokyo62.POOL_ID)
    with store.engine.connect() as connection:
        rows, totals = queries.allocation(connection, tokyo62.POOL_ID)
        views = queries.meetings(connection, tokyo62.POOL_ID)
        operator = queries.balance(connection, OPERATOR)
        pool_account = queries.balance(connection, holder)
        pool = queries.pool(connection, tokyo62.POOL_ID)
        factors = queries.factor_table(connection, reference.emission_factors().version)
    by_label = {t.label: (t.events_offset, t.offset_kg) for t in totals}
    assert len(rows) == 62
    assert by_label == {
        "wards": (29, 29_300),
        "cities": (15, 23_000),
        "towns and villages": (3, 7_700),
        "total": (47, 60_000),
        "project's own events": (33, 40_000),
        "all offsets": (80, 100_000),
    }
    assert {t.label: t.participating for t in totals}["total"] == 35
    # The purchase went through the operator into the pool's own holding, and out of it.
    assert (operator.tradable_kg, operator.retired_kg) == (0, 0)
    assert (pool_account.tradable_kg, pool_account.retired_kg) == (0, 100_000)
    assert pool is not None and (pool.funded_kg, pool.allocated_kg, pool.held_kg) == (
        100_000,
        100_000,
        0,
    )
    assert len(factors) == 10 and ("electricity", "kWh", 375_000) in [f[:3] for f in factors]
    own = [v for v in views if v.organiser_id == OPERATOR]
    assert sorted(v.category for v in own).count("study_meeting") == 29
    assert sum(1 for v in own if v.category == "exhibition") == 1
    assert sum(1 for v in own if v.category in ("briefing", "training")) == 3
    # Before and after side by side, both from the calculator; the pool equals the total.
    assert all(v.estimate_table_version == v.calculation_table_version for v in views)
    assert sum(v.calculated_kg or 0 for v in views) == 100_000
    assert sum(v.difference_kg or 0 for v in views) == 100_000 - sum(v.estimate_kg for v in views)
    all_offsets = totals[-1]
    assert (all_offsets.calculated_kg, all_offsets.difference_kg) == (
        100_000,
        100_000 - all_offsets.estimate_kg,
    )
    assert [v.registered_position for v in views] == sorted(
        v.registered_position or 0 for v in views
    )
    assert (
        sum(v.allocated_kg or 0 for v in views) == 100_000 == sum(v.retired_kg or 0 for v in views)
    )
    with store.engine.connect() as connection:
        retirements = queries.retirements(connection, holder_id=holder, limit=1_000)
    assert len(retirements) == 80
    assert {(r.purpose, r.reporting_year) for r in retirements} == {("meeting_event", 2011)}

    # Each retirement names the meeting's organiser as beneficiary and points at its meeting;
    # the recorded split states its rule.
    organisers = {v.meeting_id: v.organiser_id for v in views}
    r = tables.retirements.c
    with store.engine.connect() as connection:
        named = connection.execute(
            sa.select(r.reference, r.beneficiary_party_id).where(r.holder_id == holder)
        ).all()
    assert sorted(named) == sorted(
        (f"pool:{tokyo62.POOL_ID}/meeting:{meeting_id}", organiser)
        for meeting_id, organiser in organisers.items()
    )
    assert len(set(organisers.values())) > 30  # the secretariat and the 35 municipalities
    allocated = [
        event
        for envelope in programme.app.read_envelopes()
        for event in map(programme.app.codec.decode_event, envelope.body.effects)
        if isinstance(event, ev.PoolAllocated)
    ]
    assert [(a.pool_id, a.pool_kg, a.rule) for a in allocated] == [
        (tokyo62.POOL_ID, 100_000, allocation.RULE)
    ]
    assert allocation.RULE.startswith("largest-remainder v2")

    # A certificate per meeting, verifiable against the log with the registry key alone.
    programme.app.record_checkpoint()
    positions = [v.retired_position for v in views if v.retired_position]
    proofs = inclusion_documents(DatabaseSource(sqlite_url), positions)
    public = programme.app.registry_key.public_key
    assert all(verify_proof_document(proof, public)[0] for proof in proofs.values())


def test_two_pools_competing_for_the_same_credits_the_second_is_refused_at_purchase(
    programme: Programme,
) -> None:
    programme.ok(OPERATOR, [KWH_TABLE])
    open_pool(programme, "FIRST-FY2012", 2012, (AKISHIMA,))
    open_pool(programme, "SECOND-FY2012", 2012, (MUSASHINO,))
    buy(programme, 1_000)
    meeting(programme, "FIRST-FY2012", AKISHIMA, "A1", 800)
    meeting(programme, "SECOND-FY2012", MUSASHINO, "M1", 800)
    programme.ok(OPERATOR, [c.FundPool("FIRST-FY2012", 1_000)])
    # The same kilograms, bought into the second pool: refused when buying, not later.
    assert programme.send(OPERATOR, [c.FundPool("SECOND-FY2012", 1_000)]) == [
        CheckCode.INSUFFICIENT_HOLDINGS
    ]
    assert programme.send(OPERATOR, [c.AllocatePool("SECOND-FY2012", 1_000)]) == [
        CheckCode.POOL_UNDERFUNDED
    ]  # it holds nothing, whatever the operator holds elsewhere
    assert programme.send(OPERATOR, [c.AllocatePool("FIRST-FY2012", 1_001)]) == [
        CheckCode.POOL_UNDERFUNDED
    ]  # never more than it holds
    programme.ok(OPERATOR, [c.AllocatePool("FIRST-FY2012", 1_000)])
    programme.ok(OPERATOR, [c.RetireForMeeting("FIRST-FY2012", "A1")])
    # A pool opened later with credits of its own is not stuck: it is simply funded.
    buy(programme, 800)
    programme.ok(OPERATOR, [c.FundPool("SECOND-FY2012", 800)])
    programme.ok(OPERATOR, [c.AllocatePool("SECOND-FY2012", 800)])
    programme.ok(OPERATOR, [c.RetireForMeeting("SECOND-FY2012", "M1")])
    ledger = programme.app.ledger
    assert ledger.tradable_kg(pool_holder("FIRST-FY2012")) == 0
    assert ledger.tradable_kg(pool_holder("SECOND-FY2012")) == 0
    assert invariant_violations(ledger) == []
    # A member may buy in too; an outsider may not.
    assert programme.send("034835", [c.FundPool("FIRST-FY2012", 1)]) == [CheckCode.NOT_A_MEMBER]


def test_a_business_retiring_for_chiyoda_leaves_the_fy2011_table_unchanged(
    programme: Programme, sqlite_url: str, tmp_path: Path
) -> None:
    run_fy2011(programme)
    store = project(sqlite_url, tmp_path)
    with store.engine.connect() as connection:
        before = queries.allocation(connection, tokyo62.POOL_ID)
        meetings_before = queries.meetings(connection, tokyo62.POOL_ID)
    shop = "chiyoda-green-shop"
    key = programme.signer(shop).key.public_key
    programme.ok(OPERATOR, [c.RegisterParty(shop, "business", "Chiyoda green shop", key)])
    buy(programme, 5_000, buyer=shop, year=2011)
    buy(programme, 2_000, buyer=CHIYODA, year=2011)
    for_chiyoda = c.RetirementDetails(ev.Beneficiary("Chiyoda", CHIYODA), "meeting_event", 2011)
    programme.ok(shop, [c.RetireCredits(shop, 5_000, for_chiyoda)])
    programme.ok(CHIYODA, [c.RetireCredits(CHIYODA, 2_000, for_chiyoda)])  # its own, outside
    # And a second fiscal year's pool beside it, with Chiyoda among its members.
    second = fy2012.plan_meetings(reference.emission_factors())
    for actor, bodies in fy2012.commands(second):
        programme.ok(actor, bodies)
    store = project(sqlite_url, tmp_path)
    with store.engine.connect() as connection:
        assert queries.allocation(connection, tokyo62.POOL_ID) == before
        assert queries.meetings(connection, tokyo62.POOL_ID) == meetings_before
        chiyoda_retired = queries.balance(connection, CHIYODA).retired_kg
        _rows, second_totals = queries.allocation(connection, fy2012.POOL_ID)
    assert chiyoda_retired == 2_000  # the retirements happened; they are not the pool's
    chiyoda_row = next(row for row in before[0] if row.member_code == CHIYODA)
    assert chiyoda_row.offset_kg > 0  # Chiyoda took part in FY2011: its row did not move
    assert second_totals[-1].offset_kg == fy2012.ALLOCATED_KG


def test_the_second_pool_splits_with_remainders_and_returns_what_is_left(
    programme: Programme, sqlite_url: str, tmp_path: Path
) -> None:
    run_fy2011(programme)
    planned = fy2012.plan_meetings(reference.emission_factors())
    for actor, bodies in fy2012.commands(planned):
        programme.ok(actor, bodies)
    store = project(sqlite_url, tmp_path)
    with store.engine.connect() as connection:
        views = queries.meetings(connection, fy2012.POOL_ID)
        pool = queries.pool(connection, fy2012.POOL_ID)
        operator = queries.balance(connection, OPERATOR)
    total_kg = sum(m.after.total_kg for m in planned)
    floors = [fy2012.ALLOCATED_KG * m.after.total_kg // total_kg for m in planned]
    assert sum(floors) < fy2012.ALLOCATED_KG  # there are remainders to hand out
    assert [v.meeting_id for v in views] == [m.meeting_id for m in planned]  # registration order
    assert [v.allocated_kg for v in views] == expected_shares(
        fy2012.ALLOCATED_KG, [m.after.total_kg for m in planned]
    )
    assert sum(v.retired_kg or 0 for v in views) == fy2012.ALLOCATED_KG
    assert pool is not None
    assert (pool.funded_kg, pool.allocated_kg, pool.retired_kg, pool.returned_kg, pool.held_kg) == (
        fy2012.PURCHASE_KG,
        fy2012.ALLOCATED_KG,
        fy2012.ALLOCATED_KG,
        fy2012.RETURNED_KG,
        0,
    )
    assert operator.tradable_kg == fy2012.RETURNED_KG


def expected_shares(pool_kg: int, weights: list[int]) -> list[int]:
    """The largest-remainder method worked out independently: the floor of each quota, then
    one more kilogram to the largest remainders, equal ones in the order given."""
    total = sum(weights)
    shares = [pool_kg * weight // total for weight in weights]
    remainders = [
        pool_kg * weight - share * total for weight, share in zip(weights, shares, strict=True)
    ]
    order = sorted(range(len(weights)), key=lambda index: (-remainders[index], index))
    for index in order[: pool_kg - sum(shares)]:
        shares[index] += 1
    return shares


def test_uneven_splits_are_exact_through_the_write_side_the_projections_and_the_audit(
    programme: Programme, sqlite_url: str, tmp_path: Path
) -> None:
    programme.ok(OPERATOR, [KWH_TABLE])
    members = (CHIYODA, MUSASHINO, AKISHIMA)
    open_pool(programme, "UNEVEN-FY2012", 2012, members)
    open_pool(programme, "EQUAL-FY2012", 2012, members)
    buy(programme, 101_000)
    programme.ok(
        OPERATOR, [c.FundPool("UNEVEN-FY2012", 100_000), c.FundPool("EQUAL-FY2012", 1_000)]
    )
    # 100,000 kg over meetings calculated at 97,531 kg in all. Quotas: A1 41,012.60,
    # M1 34,176.83, C1 24,810.57; floors add to 99,998; the two kilograms left go to the
    # largest remainders, M1 (.83) and A1 (.60).
    for organiser, meeting_id, kg in (
        (AKISHIMA, "A1", 40_000),
        (MUSASHINO, "M1", 33_333),
        (CHIYODA, "C1", 24_198),
    ):
        meeting(programme, "UNEVEN-FY2012", organiser, meeting_id, kg)
    # 1,000 kg over three equal meetings: 333 1/3 each; the one kilogram left goes to the
    # meeting registered first, M9, not to "M10", which sorts first as a string.
    for meeting_id in ("M9", "M10", "M11"):
        meeting(programme, "EQUAL-FY2012", MUSASHINO, meeting_id, 100)
    programme.ok(OPERATOR, [c.AllocatePool("UNEVEN-FY2012", 100_000)])
    programme.ok(OPERATOR, [c.AllocatePool("EQUAL-FY2012", 1_000)])
    expected = {
        "UNEVEN-FY2012": {"A1": 41_013, "M1": 34_177, "C1": 24_810},
        "EQUAL-FY2012": {"M9": 334, "M10": 333, "M11": 333},
    }
    for pool_id, shares in expected.items():
        assert {
            meeting_id: programme.app.ledger.meetings[(pool_id, meeting_id)].allocated_kg
            for meeting_id in shares
        } == shares
        programme.ok(OPERATOR, [c.RetireForMeeting(pool_id, meeting_id) for meeting_id in shares])

    store = project(sqlite_url, tmp_path)
    with store.engine.connect() as connection:
        for pool_id, shares in expected.items():
            views = queries.meetings(connection, pool_id)
            assert {v.meeting_id: (v.allocated_kg, v.retired_kg) for v in views} == {
                meeting_id: (kg, kg) for meeting_id, kg in shares.items()
            }
            _rows, totals = queries.allocation(connection, pool_id)
            assert (totals[-1].allocated_kg, totals[-1].offset_kg) == (sum(shares.values()),) * 2
            holding = queries.balance(connection, pool_holder(pool_id))
            assert (holding.tradable_kg, holding.retired_kg) == (0, sum(shares.values()))
        musashino = {r.member_code: r for r in queries.allocation(connection, "EQUAL-FY2012")[0]}
    assert (musashino[MUSASHINO].events_offset, musashino[MUSASHINO].offset_kg) == (3, 1_000)
    # The audit decides every command again, the split included, and finds it exact.
    replay = verify_history(programme.app.read_envelopes(), programme.app.registry_public_keys)
    assert replay.clean, replay.discrepancies
    report = Auditor(programme.app.registry_public_keys, workers=1, progress=False).run(
        DatabaseSource(sqlite_url)
    )
    assert report.clean, report.discrepancies


def test_calculations_are_decided_by_the_rules(programme: Programme) -> None:
    programme.ok(OPERATOR, [KWH_TABLE])
    open_pool(programme, "CALC-FY2012", 2012, (AKISHIMA,))
    inputs = MeetingInputs(electricity_kwh=120)
    version = KWH_TABLE.version
    held_on = date(2012, 6, 1)

    def register(
        kg: int, table: str | None = version, used: MeetingInputs | None = inputs
    ) -> object:
        body = c.RegisterMeeting(
            "CALC-FY2012", "A1", "Forum", held_on, "event", 10, kg, "", table, used
        )
        return programme.send(AKISHIMA, [body])

    assert register(121) == [CheckCode.CALCULATION_DIFFERS]  # the estimate, too
    assert register(120, table="not-registered") == [CheckCode.UNKNOWN_FACTOR_TABLE]
    assert register(120, table=None) == [CheckCode.MALFORMED_COMMAND]  # no inputs, no figure
    assert register(0, used=MeetingInputs(paper_kg=5)) == [CheckCode.MISSING_FACTOR]
    assert register(120) == [None]

    def result(kg: int, used: MeetingInputs) -> object:
        body = c.RecordMeetingResult("CALC-FY2012", "A1", 9, kg, "after", version, used)
        return programme.send(AKISHIMA, [body])

    assert result(150, MeetingInputs(electricity_kwh=149)) == [CheckCode.CALCULATION_DIFFERS]
    assert result(-1, MeetingInputs(electricity_kwh=-1)) == [CheckCode.INVALID_QUANTITY]
    big = MeetingInputs(electricity_kwh=10**10)
    assert result(10**9, big) == [CheckCode.INVALID_CALCULATION_INPUTS]
    assert result(149, MeetingInputs(electricity_kwh=149)) == [None]
    recorded = programme.app.ledger.meetings[("CALC-FY2012", "A1")]
    assert (recorded.estimate_kg, recorded.calculated_kg) == (120, 149)
    # Factor tables: the operator's, once per version, every factor in its unit.
    assert programme.send(OPERATOR, [KWH_TABLE]) == [CheckCode.FACTOR_TABLE_EXISTS]
    assert programme.send(AKISHIMA, [c.RegisterFactorTable("mine", KWH_TABLE.factors)]) == [
        CheckCode.ROLE_NOT_ALLOWED
    ]
    in_grams = (Factor("electricity", "g", 375, "wrong unit"),)
    assert programme.send(OPERATOR, [c.RegisterFactorTable("grams", in_grams)]) == [
        CheckCode.INVALID_FACTOR
    ]


def test_dates_are_checked_against_the_pools_fiscal_year(programme: Programme) -> None:
    programme.ok(OPERATOR, [KWH_TABLE])
    open_pool(programme, "DATES-FY2012", 2012, (AKISHIMA,))
    version, inputs = KWH_TABLE.version, MeetingInputs(electricity_kwh=10)
    for held_on, code in (
        (date(2012, 3, 31), CheckCode.OUTSIDE_FISCAL_YEAR),  # the last day of FY2011
        (date(2013, 4, 1), CheckCode.OUTSIDE_FISCAL_YEAR),  # the first of FY2013
        (date(2012, 4, 1), None),
        (date(2013, 3, 31), None),
    ):
        meeting_id = f"D{held_on:%Y%m%d}"
        body = c.RegisterMeeting(
            "DATES-FY2012", meeting_id, "Meeting", held_on, "event", 10, 10, "", version, inputs
        )
        assert programme.send(AKISHIMA, [body]) == [code], held_on


def test_what_is_left_is_returned_to_a_funder_or_carried_into_a_later_pool(
    programme: Programme, sqlite_url: str, tmp_path: Path
) -> None:
    programme.ok(OPERATOR, [KWH_TABLE])
    open_pool(programme, "LEFT-FY2012", 2012, (AKISHIMA, MUSASHINO))
    open_pool(programme, "NEXT-FY2013", 2013, (AKISHIMA,))
    open_pool(programme, "SAME-FY2012", 2012, (AKISHIMA,))
    buy(programme, 1_000)
    buy(programme, 500, buyer=AKISHIMA)
    programme.ok(OPERATOR, [c.FundPool("LEFT-FY2012", 1_000)])
    programme.ok(AKISHIMA, [c.FundPool("LEFT-FY2012", 500)])
    meeting(programme, "LEFT-FY2012", AKISHIMA, "A1", 600)
    programme.ok(OPERATOR, [c.AllocatePool("LEFT-FY2012", 900)])  # 600 kg of the 1,500 free
    assert programme.send(AKISHIMA, [c.FundPool("LEFT-FY2012", 1)]) == [CheckCode.POOL_STATE]
    cases = [
        (AKISHIMA, c.ReturnPoolRemainder("LEFT-FY2012", AKISHIMA, 100), CheckCode.ROLE_NOT_ALLOWED),
        (OPERATOR, c.ReturnPoolRemainder("LEFT-FY2012", MUSASHINO, 100), CheckCode.NOT_A_FUNDER),
        (OPERATOR, c.ReturnPoolRemainder("LEFT-FY2012", AKISHIMA, 601), CheckCode.POOL_UNDERFUNDED),
        (
            OPERATOR,
            c.CarryPoolRemainder("LEFT-FY2012", "SAME-FY2012", 100),
            CheckCode.INVALID_CARRY,
        ),
        (
            OPERATOR,
            c.CarryPoolRemainder("LEFT-FY2012", "LEFT-FY2012", 100),
            CheckCode.INVALID_CARRY,
        ),
        (OPERATOR, c.CarryPoolRemainder("LEFT-FY2012", "NOPE", 100), CheckCode.UNKNOWN_POOL),
        (OPERATOR, c.ReturnPoolRemainder("LEFT-FY2012", AKISHIMA, 0), CheckCode.INVALID_QUANTITY),
    ]
    for actor, body, code in cases:
        assert programme.send(actor, [body]) == [code], body
    programme.ok(OPERATOR, [c.ReturnPoolRemainder("LEFT-FY2012", AKISHIMA, 200)])
    programme.ok(OPERATOR, [c.CarryPoolRemainder("LEFT-FY2012", "NEXT-FY2013", 400)])
    assert programme.send(OPERATOR, [c.ReturnPoolRemainder("LEFT-FY2012", OPERATOR, 1)]) == [
        CheckCode.POOL_UNDERFUNDED
    ]  # the 900 kg left are owed to the meeting
    programme.ok(OPERATOR, [c.RetireForMeeting("LEFT-FY2012", "A1")])
    # The later pool may give the carried credits back to whoever funded them.
    programme.ok(OPERATOR, [c.ReturnPoolRemainder("NEXT-FY2013", AKISHIMA, 50)])
    ledger = programme.app.ledger
    assert ledger.tradable_kg(AKISHIMA) == 250 and invariant_violations(ledger) == []
    store = project(sqlite_url, tmp_path)
    with store.engine.connect() as connection:
        left = queries.pool(connection, "LEFT-FY2012")
        following = queries.pool(connection, "NEXT-FY2013")
    assert left is not None and following is not None
    assert (left.funded_kg, left.returned_kg, left.carried_out_kg) == (1_500, 200, 400)
    assert (left.held_kg, left.retired_kg, left.allocated_kg) == (0, 900, 900)
    assert (following.carried_in_kg, following.returned_kg, following.held_kg) == (400, 50, 350)


def test_pool_rules_have_codes(programme: Programme) -> None:
    akishima, iwaizumi = AKISHIMA, "034835"
    held_on = date(2011, 7, 1)
    programme.ok(OPERATOR, [KWH_TABLE])
    programme.ok(OPERATOR, [c.OpenPool("P1", "Pool", 2011, (akishima,))])
    version, inputs = KWH_TABLE.version, MeetingInputs(electricity_kwh=10)

    def registration(pool_id: str, category: str = "event") -> c.RegisterMeeting:
        return c.RegisterMeeting(pool_id, "X1", "M", held_on, category, 10, 10, "", version, inputs)

    cases = [
        (akishima, c.OpenPool("P2", "Pool", 2011, (akishima,)), CheckCode.ROLE_NOT_ALLOWED),
        (OPERATOR, c.OpenPool("P1", "Again", 2011, (akishima,)), CheckCode.POOL_EXISTS),
        (
            OPERATOR,
            c.OpenPool("P3", "Pool", 2011, (akishima, akishima)),
            CheckCode.MALFORMED_COMMAND,
        ),
        (iwaizumi, registration("P1"), CheckCode.NOT_A_MEMBER),
        (akishima, registration("NOPE"), CheckCode.UNKNOWN_POOL),
        (akishima, registration("P1", "party"), CheckCode.MALFORMED_COMMAND),
        (
            akishima,
            c.RecordMeetingResult("P1", "ZZ", 10, 10, "", version, inputs),
            CheckCode.UNKNOWN_MEETING,
        ),
        (OPERATOR, c.RetireForMeeting("P1", "X1"), CheckCode.POOL_STATE),
        (OPERATOR, c.AllocatePool("P1", 10), CheckCode.POOL_STATE),
        (OPERATOR, c.FundPool("NOPE", 10), CheckCode.UNKNOWN_POOL),
    ]
    for actor, body, code in cases:
        assert programme.send(actor, [body]) == [code], body
