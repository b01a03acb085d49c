"""Model IV end to end on the write side and the projections: the FY2011 joint purchase
reproduces every published total to the kilogram, read back from the projections."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from projections import queries, tables
from registry import reference
from registry.audit.proofs import inclusion_documents
from registry.audit.sources import DatabaseSource
from registry.domain import allocation
from registry.domain import commands as c
from registry.domain import events as ev
from registry.domain.checks import CheckCode
from registry.scenario import tokyo62
from registry.transparency.proof_verifier import verify_proof_document
from tests.support.programme import Programme, project


def test_the_fy2011_programme_reproduces_every_published_total(
    programme: Programme, sqlite_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    meetings = tokyo62.plan_meetings(reference.emission_factors())
    for actor, bodies in tokyo62.commands(meetings):
        programme.ok(actor, bodies)
    store = project(sqlite_url, tmp_path)
    with store.engine.connect() as connection:
        rows, totals = queries.allocation(connection)
        views = queries.meetings(connection, tokyo62.POOL_ID)
        operator = queries.balance(connection, tokyo62.OPERATOR)
    by_label = {t.label: t for t in totals}
    assert len(rows) == 62
    assert (by_label["wards"].events_offset, by_label["wards"].offset_kg) == (29, 29_300)
    assert (by_label["cities"].events_offset, by_label["cities"].offset_kg) == (15, 23_000)
    assert (
        by_label["towns and villages"].events_offset,
        by_label["towns and villages"].offset_kg,
    ) == (3, 7_700)
    assert (
        by_label["total"].events_offset,
        by_label["total"].offset_kg,
        by_label["total"].participating,
    ) == (47, 60_000, 35)
    assert (
        by_label["project's own events"].events_offset,
        by_label["project's own events"].offset_kg,
    ) == (33, 40_000)
    assert (by_label["all offsets"].events_offset, by_label["all offsets"].offset_kg) == (
        80,
        100_000,
    )
    assert (
        operator.retired_kg == 100_000 and operator.tradable_kg == 0
    )  # the whole purchase, retired
    own = [v for v in views if v.organiser_id == tokyo62.OPERATOR]
    assert sorted(v.category for v in own).count("study_meeting") == 29
    assert (
        sum(1 for v in own if v.category == "exhibition") == 1
        and sum(1 for v in own if v.category in ("briefing", "training")) == 3
    )
    # Before and after side by side; allocation equals the calculation here (pool = total).
    assert all(v.estimate_kg is not None and v.calculated_kg is not None for v in views)
    assert (
        sum(v.allocated_kg or 0 for v in views) == 100_000 == sum(v.retired_kg or 0 for v in views)
    )
    with store.engine.connect() as connection:
        retirements = queries.retirements(connection, holder_id=tokyo62.OPERATOR, limit=1_000)
    assert len(retirements) == 80
    assert {r.purpose for r in retirements} == {"meeting_event"} and {
        r.reporting_year for r in retirements
    } == {2011}

    # Each retirement names the meeting's organiser as beneficiary and points at its meeting;
    # the recorded split states its rule.
    organisers = {v.meeting_id: v.organiser_id for v in views}
    r = tables.retirements.c
    with store.engine.connect() as connection:
        named = connection.execute(
            sa.select(r.reference, r.beneficiary_party_id).where(r.holder_id == tokyo62.OPERATOR)
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
    assert allocation.RULE.startswith("largest-remainder v1")

    # A certificate per meeting, verifiable against the log with the registry key alone.
    programme.app.record_checkpoint()
    positions = [v.retired_position for v in views if v.retired_position]
    proofs = inclusion_documents(DatabaseSource(sqlite_url), positions)
    public = programme.app.registry_key.public_key
    assert all(verify_proof_document(proof, public)[0] for proof in proofs.values())


def test_allocation_splits_an_uneven_pool_by_largest_remainder(programme: Programme) -> None:
    operator, akishima, musashino = tokyo62.OPERATOR, "132071", "132039"
    programme.ok(operator, [c.OpenPool("SMALL-POOL", "Small pool", 2012, (akishima, musashino))])
    programme.ok(
        tokyo62.PROVIDER,
        [c.IssueCredits(tokyo62.PROJECT_ID, date(2012, 4, 1), date(2012, 4, 1), 1_000, operator)],
    )
    held_on = date(2012, 6, 1)
    programme.ok(
        akishima,
        [c.RegisterMeeting("SMALL-POOL", "A1", "Forum", held_on, "event", 100, 300, "plan")],
    )
    programme.ok(
        musashino,
        [c.RegisterMeeting("SMALL-POOL", "M1", "Festival", held_on, "event", 50, 200, "plan")],
    )
    assert programme.send(operator, [c.AllocatePool("SMALL-POOL", 1_000)]) == [
        CheckCode.POOL_STATE
    ]  # not calculated yet
    programme.ok(akishima, [c.RecordMeetingResult("SMALL-POOL", "A1", 101, 333, "after")])
    programme.ok(musashino, [c.RecordMeetingResult("SMALL-POOL", "M1", 48, 333, "after")])
    programme.ok(operator, [c.AllocatePool("SMALL-POOL", 1_000)])
    meetings = programme.app.ledger.meetings
    assert (
        meetings[("SMALL-POOL", "A1")].allocated_kg,
        meetings[("SMALL-POOL", "M1")].allocated_kg,
    ) == (500, 500)
    programme.ok(operator, [c.RetireForMeeting("SMALL-POOL", "A1")])
    assert programme.send(operator, [c.RetireForMeeting("SMALL-POOL", "A1")]) == [
        CheckCode.ALREADY_RETIRED
    ]


def test_pool_rules_have_codes(programme: Programme) -> None:
    operator, akishima, iwaizumi = tokyo62.OPERATOR, "132071", "034835"
    held_on = date(2011, 7, 1)
    programme.ok(operator, [c.OpenPool("P1", "Pool", 2011, (akishima,))])
    cases = [
        (akishima, c.OpenPool("P2", "Pool", 2011, (akishima,)), CheckCode.ROLE_NOT_ALLOWED),
        (operator, c.OpenPool("P1", "Again", 2011, (akishima,)), CheckCode.POOL_EXISTS),
        (
            operator,
            c.OpenPool("P3", "Pool", 2011, (akishima, akishima)),
            CheckCode.MALFORMED_COMMAND,
        ),
        (
            iwaizumi,
            c.RegisterMeeting("P1", "X1", "Not a member", held_on, "event", 10, 10, ""),
            CheckCode.NOT_A_MEMBER,
        ),
        (
            akishima,
            c.RegisterMeeting("NOPE", "X1", "No pool", held_on, "event", 10, 10, ""),
            CheckCode.UNKNOWN_POOL,
        ),
        (
            akishima,
            c.RegisterMeeting("P1", "X1", "Bad", held_on, "party", 10, 10, ""),
            CheckCode.MALFORMED_COMMAND,
        ),
        (akishima, c.RecordMeetingResult("P1", "ZZ", 10, 10, ""), CheckCode.UNKNOWN_MEETING),
        (operator, c.RetireForMeeting("P1", "X1"), CheckCode.POOL_STATE),
        (operator, c.AllocatePool("P1", 10), CheckCode.POOL_STATE),
    ]
    for actor, body, code in cases:
        assert programme.send(actor, [body]) == [code], body
