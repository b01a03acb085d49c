"""The ledger's invariants, recomputed from first principles: every test, the replay
verifier and the auditor ask the same question, "does this state add up?".

The supply rule is issued = tradable + pending + retired + cancelled for every batch.
Credits withheld into a class's buffer account are tradable credits held by that account
(`buffer:<CLASS_ID>`), so they count among the tradable ones like any holding; a reversal
moves them to cancelled. The buffers are checked besides: each project's credits in the
buffer are what was withheld less what reversals cancelled."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from operator import itemgetter

from registry.domain.ledger import Ledger
from registry.domain.records import BUFFER_HOLDER_PREFIX, ProjectBuffer, buffer_holder
from registry.domain.serials import total_kg


def invariant_violations(ledger: Ledger) -> list[str]:
    """Recompute the supply rule and serial uniqueness from the holdings themselves, not
    from the running counters, and report every disagreement. Empty means healthy."""
    problems = _holding_problems(ledger)
    pending_places: dict[str, list[Place]] = {}
    pending_kg: dict[str, int] = {}
    for delivery in ledger.deliveries.values():
        if delivery.outcome is None:
            for block in delivery.blocks:
                where = f"pending delivery {delivery.delivery_id}"
                pending_places.setdefault(block.batch_id, []).append(
                    (block.serial_start, block.serial_end, where)
                )
                pending_kg[block.batch_id] = pending_kg.get(block.batch_id, 0) + block.quantity_kg
    for batch_id, supply in ledger.supply.items():
        if supply.pending_kg != pending_kg.get(batch_id, 0):
            problems.append(
                f"{batch_id}: pending counter {supply.pending_kg} kg disagrees with open deliveries"
            )
    problems += _batch_problems(ledger, pending_places)
    problems += _pool_problems(ledger)
    problems += _buffer_problems(ledger)
    return problems


Place = tuple[int, int, str]  # serial_start, serial_end, where those serials are


def _holding_problems(ledger: Ledger) -> list[str]:
    """Each holding against its running total, and each party's holdings against its own."""
    problems: list[str] = []
    for (party_id, batch_id), ranges in ledger.holdings.items():
        if not ranges:
            problems.append(f"{party_id} has an empty holding of {batch_id}")
        if ledger.holding_kg.get((party_id, batch_id)) != total_kg(ranges):
            problems.append(
                f"{party_id}'s running total of {batch_id} disagrees with its serial blocks"
            )
        for start, end in ranges:
            if start > end:
                problems.append(f"{party_id} holds a negative block {batch_id}:{start}-{end}")
    held_by_party: dict[str, int] = {}
    for (party_id, _batch_id), ranges in ledger.holdings.items():
        held_by_party[party_id] = held_by_party.get(party_id, 0) + total_kg(ranges)
    for party_id, kg in ledger.party_kg.items():
        if kg != held_by_party.get(party_id, 0):
            problems.append(f"{party_id}'s running total disagrees with its serial blocks")
    return problems


def _batch_problems(ledger: Ledger, pending_places: dict[str, list[Place]]) -> list[str]:
    """Per batch: its counters against where its serials are, and every serial in exactly
    one place. The places of one batch are gathered only while it is checked: at a million
    envelopes all of them at once were tens of megabytes, the peak of a whole audit."""
    problems: list[str] = []
    # The holdings' keys in batch order, so that one batch's holders are found by bisection.
    holders = sorted(ledger.holdings, key=itemgetter(1))
    holder_batches = [batch_id for _party_id, batch_id in holders]
    for batch_id, batch in ledger.batches.items():
        supply = ledger.supply[batch_id]
        places = list(pending_places.get(batch_id, ()))
        tradable_kg = 0
        first = bisect_left(holder_batches, batch_id)
        for party_id, _batch_id in holders[first : bisect_right(holder_batches, batch_id, first)]:
            where = f"held by {party_id}"
            for start, end in ledger.holdings[(party_id, batch_id)]:
                places.append((start, end, where))
                tradable_kg += end - start + 1
        retired = ledger.retired.get(batch_id, ())
        cancelled = ledger.cancelled.get(batch_id, ())
        places.extend((start, end, "retired") for start, end in retired)
        places.extend((start, end, "cancelled") for start, end in cancelled)
        counted = (tradable_kg, total_kg(retired), total_kg(cancelled))
        if counted != (supply.tradable_kg, supply.retired_kg, supply.cancelled_kg):
            problems.append(f"{batch_id}: counters {supply} disagree with holdings {counted}")
        if not supply.balanced() or supply.issued_kg != batch.quantity_kg:
            problems.append(
                f"{batch_id}: issued {batch.quantity_kg} kg is not accounted by {supply}"
            )
        problems += _serial_problems(batch_id, batch.quantity_kg, places)
    return problems


def _serial_problems(batch_id: str, quantity_kg: int, places: list[Place]) -> list[str]:
    """Serials 1..quantity_kg each in exactly one of `places`."""
    problems = []
    expected_start = 1
    for start, end, where in sorted(places):
        if start != expected_start:
            kind = "in two places" if start < expected_start else "missing"
            problems.append(f"{batch_id}: serial {min(start, expected_start)} {kind} ({where})")
        expected_start = max(expected_start, end + 1)
    if expected_start != quantity_kg + 1:
        problems.append(f"{batch_id}: serials end at {expected_start - 1}, issued {quantity_kg}")
    return problems


def _buffer_problems(ledger: Ledger) -> list[str]:
    """A buffer account holds only its own class's batches, and per project what was
    withheld and not yet cancelled by reversals."""
    problems = []
    held_by_project: dict[str, int] = {}
    for (holder_id, batch_id), ranges in ledger.holdings.items():
        if not holder_id.startswith(BUFFER_HOLDER_PREFIX):
            continue
        batch = ledger.batches[batch_id]
        if holder_id != buffer_holder(batch.class_id):
            problems.append(f"{holder_id} holds {batch_id} of another class")
        held_by_project[batch.project_id] = held_by_project.get(batch.project_id, 0) + total_kg(
            ranges
        )
    for project_id in held_by_project.keys() | ledger.buffers.keys():
        buffer = ledger.buffers.get(project_id, ProjectBuffer())
        held_kg = held_by_project.get(project_id, 0)
        if held_kg != buffer.held_kg or min(buffer.reversed_kg, buffer.shortfall_kg) < 0:
            problems.append(
                f"{project_id}: the buffer holds {held_kg} kg of it, its record says {buffer}"
            )
    return problems


def _pool_problems(ledger: Ledger) -> list[str]:
    """A pool holds at least what it still owes its meetings, and its split adds up."""
    problems = []
    for pool in ledger.pools.values():
        held_kg = ledger.tradable_kg(pool.holder_id)
        if held_kg < pool.owed_kg:
            problems.append(f"{pool.pool_id} holds {held_kg} kg but owes {pool.owed_kg} kg")
        meetings = [
            ledger.meetings[(pool.pool_id, meeting_id)]
            for meeting_id in ledger.pool_meetings.get(pool.pool_id, ())
        ]
        if pool.allocated and sum(m.allocated_kg or 0 for m in meetings) != pool.allocated_kg:
            problems.append(f"{pool.pool_id}: its meetings' shares do not add up to the split")
        retired_kg = sum(m.allocated_kg or 0 for m in meetings if m.retired)
        if retired_kg != pool.retired_kg:
            problems.append(f"{pool.pool_id}: retired {pool.retired_kg} kg, meetings {retired_kg}")
    return problems
