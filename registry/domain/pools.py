"""Rules of the joint purchase (model IV): pools, meetings with estimates before and
calculations after (both decided by the calculator, see factors.py), the exact split of
what the pool holds, and retirement from the pool's holding on members' behalf. Funding
a pool and returning or carrying its remainder are in pool_holdings.py."""

from __future__ import annotations

import re

from registry.domain import commands as cmd
from registry.domain import events as ev
from registry.domain.allocation import RULE, largest_remainder
from registry.domain.checks import CheckCode, InvariantViolation, Rejection
from registry.domain.factors import decided_figure
from registry.domain.fiscal import fiscal_year_span
from registry.domain.ledger import Ledger
from registry.domain.parties import TEXT_LENGTH_MAX, Party, Role, validate_name, validate_text
from registry.domain.pool_holdings import Take
from registry.domain.records import Meeting, Pool

_POOL_OR_MEETING_ID = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,39}$")
CATEGORIES = frozenset({"meeting", "event", "study_meeting", "briefing", "training", "exhibition"})
PARTICIPANTS_MAX = 1_000_000
MEETING_KG_MAX = 10**9


def _identifier(kind: str, value: str) -> None:
    if not _POOL_OR_MEETING_ID.match(value):
        raise Rejection(
            CheckCode.INVALID_IDENTIFIER,
            f"{kind} id {value!r}: 2-40 upper-case letters, digits or '-'",
        )


def _pool(ledger: Ledger, pool_id: str) -> Pool:
    pool = ledger.pools.get(pool_id)
    if pool is None:
        raise Rejection(CheckCode.UNKNOWN_POOL, repr(pool_id))
    return pool


def _meeting(ledger: Ledger, pool_id: str, meeting_id: str) -> Meeting:
    meeting = ledger.meetings.get((pool_id, meeting_id))
    if meeting is None:
        raise Rejection(CheckCode.UNKNOWN_MEETING, f"{meeting_id!r} in {pool_id!r}")
    return meeting


def _open(pool: Pool) -> None:
    if pool.allocated:
        raise Rejection(CheckCode.POOL_STATE, f"{pool.pool_id} is already allocated")


def _count(name: str, value: int, ceiling: int) -> None:
    if not 0 <= value <= ceiling:
        raise Rejection(CheckCode.MALFORMED_COMMAND, f"{name} {value} is out of range 0..{ceiling}")


def open_pool(ledger: Ledger, actor: Party, body: cmd.OpenPool) -> list[ev.Event]:
    if actor.role is not Role.OPERATOR:
        raise Rejection(CheckCode.ROLE_NOT_ALLOWED, f"{actor.role.value} may not open pools")
    _identifier("pool", body.pool_id)
    validate_name("name", body.name)
    if not 1990 <= body.fiscal_year <= 2200:
        raise Rejection(CheckCode.INVALID_REPORTING_YEAR, str(body.fiscal_year))
    if body.pool_id in ledger.pools:
        raise Rejection(CheckCode.POOL_EXISTS, repr(body.pool_id))
    if not body.members or len(set(body.members)) != len(body.members):
        raise Rejection(
            CheckCode.MALFORMED_COMMAND, "members must be a non-empty list without repeats"
        )
    for member in body.members:
        party = ledger.parties.get(member)
        if party is None:
            raise Rejection(CheckCode.UNKNOWN_PARTY, repr(member))
        if party.role is not Role.MUNICIPALITY:
            raise Rejection(
                CheckCode.ROLE_NOT_ALLOWED, f"{member} ({party.role.value}) cannot be a pool member"
            )
    return [
        ev.PoolOpened(
            body.pool_id, body.name, body.fiscal_year, tuple(body.members), actor.party_id
        )
    ]


def register_meeting(ledger: Ledger, actor: Party, body: cmd.RegisterMeeting) -> list[ev.Event]:
    pool = _pool(ledger, body.pool_id)
    _open(pool)
    if actor.party_id not in pool.members and actor.party_id != pool.opened_by:
        raise Rejection(CheckCode.NOT_A_MEMBER, f"{actor.party_id} in {pool.pool_id}")
    _identifier("meeting", body.meeting_id)
    if (body.pool_id, body.meeting_id) in ledger.meetings:
        raise Rejection(CheckCode.MEETING_EXISTS, repr(body.meeting_id))
    validate_name("name", body.name)
    if body.category not in CATEGORIES:
        raise Rejection(
            CheckCode.MALFORMED_COMMAND, f"category {body.category!r}; one of {sorted(CATEGORIES)}"
        )
    first_day, last_day = fiscal_year_span(pool.fiscal_year)
    if not first_day <= body.held_on <= last_day:
        raise Rejection(
            CheckCode.OUTSIDE_FISCAL_YEAR,
            f"{body.held_on} is not in FY{pool.fiscal_year} ({first_day} to {last_day})",
        )
    _count("expected_participants", body.expected_participants, PARTICIPANTS_MAX)
    _count("estimate_kg", body.estimate_kg, MEETING_KG_MAX)
    validate_text("estimate_basis", body.estimate_basis, TEXT_LENGTH_MAX)
    decided_figure(
        ledger,
        f"estimate of {body.meeting_id}",
        body.factor_table_version,
        body.estimate_inputs,
        body.estimate_kg,
    )
    return [
        ev.MeetingRegistered(
            body.pool_id,
            body.meeting_id,
            actor.party_id,
            body.name,
            body.held_on,
            body.category,
            body.expected_participants,
            body.estimate_kg,
            body.estimate_basis,
            body.factor_table_version,
            body.estimate_inputs,
        )
    ]


def record_result(ledger: Ledger, actor: Party, body: cmd.RecordMeetingResult) -> list[ev.Event]:
    pool = _pool(ledger, body.pool_id)
    _open(pool)
    meeting = _meeting(ledger, body.pool_id, body.meeting_id)
    if meeting.organiser_id != actor.party_id:
        raise Rejection(
            CheckCode.NOT_THE_OWNER, f"only {meeting.organiser_id} records {meeting.meeting_id}"
        )
    _count("actual_participants", body.actual_participants, PARTICIPANTS_MAX)
    if not 0 < body.calculated_kg <= MEETING_KG_MAX:
        raise Rejection(CheckCode.INVALID_QUANTITY, f"calculated_kg {body.calculated_kg}")
    validate_text("calculation_basis", body.calculation_basis, TEXT_LENGTH_MAX)
    calculation = decided_figure(
        ledger,
        f"calculation of {body.meeting_id}",
        body.factor_table_version,
        body.inputs,
        body.calculated_kg,
    )
    return [
        ev.MeetingCalculated(
            body.pool_id,
            body.meeting_id,
            body.actual_participants,
            calculation.total_kg,  # the rules' figure (equal to the one sent)
            body.calculation_basis,
            body.factor_table_version,
            body.inputs,
        )
    ]


def allocate(ledger: Ledger, actor: Party, body: cmd.AllocatePool) -> list[ev.Event]:
    pool = _pool(ledger, body.pool_id)
    if actor.party_id != pool.opened_by:
        raise Rejection(
            CheckCode.ROLE_NOT_ALLOWED, f"only {pool.opened_by} allocates {pool.pool_id}"
        )
    _open(pool)
    meetings = [
        ledger.meetings[(pool.pool_id, meeting_id)]
        for meeting_id in ledger.pool_meetings.get(pool.pool_id, ())
    ]
    if not meetings:
        raise Rejection(CheckCode.POOL_STATE, f"{pool.pool_id} has no meetings")
    uncalculated = [m.meeting_id for m in meetings if m.calculated_kg is None]
    if uncalculated:
        raise Rejection(
            CheckCode.POOL_STATE,
            f"not yet calculated after the event: {', '.join(uncalculated[:5])}",
        )
    if not 0 < body.pool_kg <= MEETING_KG_MAX * len(meetings):
        raise Rejection(CheckCode.INVALID_QUANTITY, f"{body.pool_kg} kg")
    # Only what the pool itself holds can be split: never the operator's other credits.
    held_kg = ledger.tradable_kg(pool.holder_id)
    if held_kg < body.pool_kg:
        raise Rejection(
            CheckCode.POOL_UNDERFUNDED,
            f"{pool.pool_id} holds {held_kg} kg, {body.pool_kg} kg asked to be allocated",
        )
    # Registration order (pool_meetings is in the order of the history): the tie order.
    shares = largest_remainder(
        body.pool_kg, [(m.meeting_id, m.calculated_kg or 0) for m in meetings]
    )
    allocations = tuple(
        ev.MeetingAllocation(
            m.meeting_id, m.organiser_id, m.calculated_kg or 0, shares[m.meeting_id]
        )
        for m in meetings
    )
    return [ev.PoolAllocated(pool.pool_id, body.pool_kg, RULE, allocations)]


def retire_for_meeting(
    ledger: Ledger, actor: Party, body: cmd.RetireForMeeting, take: Take
) -> list[ev.Event]:
    pool = _pool(ledger, body.pool_id)
    if actor.party_id != pool.opened_by:
        raise Rejection(
            CheckCode.ROLE_NOT_ALLOWED, f"only {pool.opened_by} retires for {pool.pool_id}"
        )
    if not pool.allocated:
        raise Rejection(CheckCode.POOL_STATE, f"{pool.pool_id} is not allocated yet")
    meeting = _meeting(ledger, body.pool_id, body.meeting_id)
    if meeting.retired:
        raise Rejection(CheckCode.ALREADY_RETIRED, f"{meeting.meeting_id} in {pool.pool_id}")
    quantity_kg = meeting.allocated_kg or 0
    if quantity_kg <= 0:
        raise Rejection(CheckCode.POOL_STATE, f"{meeting.meeting_id} was allocated nothing")
    # From the pool's own holding, where the allocation is reserved (see pool_holdings.py).
    if not callable(take):
        raise InvariantViolation("retiring for a meeting needs a way to take serials")
    blocks = take(ledger, pool.holder_id, quantity_kg, None)
    organiser = ledger.parties[meeting.organiser_id]
    retired = ev.CreditsRetired(
        pool.holder_id,
        blocks,
        quantity_kg,
        ev.Beneficiary(organiser.name, organiser.party_id),
        "meeting_event",
        pool.fiscal_year,
        meeting.name,
        f"pool:{pool.pool_id}/meeting:{meeting.meeting_id}",
    )
    return [
        retired,
        ev.MeetingOffset(pool.pool_id, meeting.meeting_id, meeting.organiser_id, quantity_kg),
    ]
