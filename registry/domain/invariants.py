"""The ledger's invariants, recomputed from first principles: every test, the replay
verifier and the auditor ask the same question, "does this state add up?".

The supply rule is issued = tradable + pending + retired + cancelled for every batch.
Credits withheld into a class's buffer account are tradable credits held by that account
(`buffer:<CLASS_ID>`), so they count among the tradable ones like any holding; a reversal
moves them to cancelled. The buffers are checked besides: each project's credits in the
buffer are what was withheld less what reversals cancelled."""

from __future__ import annotations

from registry.domain.ledger import Ledger
from registry.domain.records import BUFFER_HOLDER_PREFIX, ProjectBuffer, buffer_holder
from registry.domain.serials import total_kg


def invariant_violations(ledger: Ledger) -> list[str]:
    """Recompute the supply rule and serial uniqueness from the holdings themselves, not
    from the running counters, and report every disagreement. Empty means healthy."""
    problems: list[str] = []
    places: dict[str, list[tuple[int, int, str]]] = {}
    tradable_kg: dict[str, int] = {}
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
            places.setdefault(batch_id, []).append((start, end, f"held by {party_id}"))
            tradable_kg[batch_id] = tradable_kg.get(batch_id, 0) + end - start + 1
    held_by_party: dict[str, int] = {}
    for (party_id, _batch_id), ranges in ledger.holdings.items():
        held_by_party[party_id] = held_by_party.get(party_id, 0) + total_kg(ranges)
    for party_id, kg in ledger.party_kg.items():
        if kg != held_by_party.get(party_id, 0):
            problems.append(f"{party_id}'s running total disagrees with its serial blocks")
    pending_kg: dict[str, int] = {}
    for delivery in ledger.deliveries.values():
        if delivery.outcome is None:
            for block in delivery.blocks:
                where = f"pending delivery {delivery.delivery_id}"
                places.setdefault(block.batch_id, []).append(
                    (block.serial_start, block.serial_end, where)
                )
                pending_kg[block.batch_id] = pending_kg.get(block.batch_id, 0) + block.quantity_kg
    for batch_id, supply in ledger.supply.items():
        if supply.pending_kg != pending_kg.get(batch_id, 0):
            problems.append(
                f"{batch_id}: pending counter {supply.pending_kg} kg disagrees with open deliveries"
            )
    for sink_name, sink in (("retired", ledger.retired), ("cancelled", ledger.cancelled)):
        for batch_id, ranges in sink.items():
            places.setdefault(batch_id, []).extend((start, end, sink_name) for start, end in ranges)
    for batch_id, batch in ledger.batches.items():
        supply = ledger.supply[batch_id]
        retired_kg = total_kg(ledger.retired.get(batch_id, ()))
        cancelled_kg = total_kg(ledger.cancelled.get(batch_id, ()))
        counted = (tradable_kg.get(batch_id, 0), retired_kg, cancelled_kg)
        if counted != (supply.tradable_kg, supply.retired_kg, supply.cancelled_kg):
            problems.append(f"{batch_id}: counters {supply} disagree with holdings {counted}")
        if not supply.balanced() or supply.issued_kg != batch.quantity_kg:
            problems.append(
                f"{batch_id}: issued {batch.quantity_kg} kg is not accounted by {supply}"
            )
        blocks = sorted(places.get(batch_id, []))
        expected_start = 1
        for start, end, where in blocks:
            if start != expected_start:
                kind = "in two places" if start < expected_start else "missing"
                problems.append(f"{batch_id}: serial {min(start, expected_start)} {kind} ({where})")
            expected_start = max(expected_start, end + 1)
        if expected_start != batch.quantity_kg + 1:
            problems.append(
                f"{batch_id}: serials end at {expected_start - 1}, issued {batch.quantity_kg}"
            )
    problems += _pool_problems(ledger)
    problems += _buffer_problems(ledger)
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
