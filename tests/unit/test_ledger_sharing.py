"""The ledger keeps one object for each id and date it stores many times (the memory of a
long history), and its invariants, checked one batch at a time, still name every serial
that is in two places or in none."""

from __future__ import annotations

from datetime import date

from registry.domain import events as ev
from registry.domain.events import Beneficiary
from registry.domain.invariants import invariant_violations
from registry.domain.ledger import Ledger
from registry.domain.records import Supply
from registry.domain.serials import SerialBlock

HOLDER, BUYER = "131016", "132071"


def fresh(text: str) -> str:
    """An equal string that is a separate object, as each decoded event brings its own."""
    return "".join(list(text))


def issue(ledger: Ledger, batch_id: str, quantity_kg: int, position: int) -> None:
    event = ev.CreditsIssued(
        fresh(batch_id),
        fresh("JVER"),
        fresh("IWAIZUMI01"),
        fresh("jver-provider"),
        date(2012, 4, 1),
        date(2013, 3, 31),
        1,
        quantity_kg,
        quantity_kg,
        fresh(HOLDER),
    )
    ledger.apply(event, position)


def transfer(ledger: Ledger, batch_id: str, start: int, end: int, position: int) -> None:
    block = SerialBlock(fresh(batch_id), start, end)
    event = ev.CreditsTransferred(fresh(HOLDER), fresh(BUYER), (block,), end - start + 1, "")
    ledger.apply(event, position)


def retire(ledger: Ledger, batch_id: str, start: int, end: int, position: int) -> None:
    block = SerialBlock(fresh(batch_id), start, end)
    beneficiary = Beneficiary("Akishima")
    event = ev.CreditsRetired(fresh(BUYER), (block,), end - start + 1, beneficiary, "", 2012, "")
    ledger.apply(event, position)


def two_batches() -> Ledger:
    ledger = Ledger()
    issue(ledger, "JVER-A-001", 100, 1)
    issue(ledger, "JVER-A-002", 50, 2)
    transfer(ledger, "JVER-A-001", 1, 40, 3)
    retire(ledger, "JVER-A-001", 1, 10, 4)
    return ledger


def test_repeated_ids_and_dates_are_kept_once() -> None:
    ledger = two_batches()
    first, second = ledger.batches["JVER-A-001"], ledger.batches["JVER-A-002"]
    assert first.class_id is second.class_id and first.project_id is second.project_id
    assert first.issuer_id is second.issuer_id
    assert first.vintage_start is second.vintage_start
    assert first.vintage_end is second.vintage_end
    (batch_key,) = (key for key in ledger.batches if key == "JVER-A-001")
    for table in (ledger.holdings, ledger.holding_kg):
        holder_keys = [key for key in table if key[1] == "JVER-A-001"]
        assert len(holder_keys) == 2 and all(key[1] is batch_key for key in holder_keys)
    (retired_key,) = ledger.retired
    assert retired_key is batch_key
    holder_ids = [key[0] for key in ledger.holdings if key[0] == HOLDER]
    assert len(holder_ids) == 2 and holder_ids[0] is holder_ids[1]
    assert invariant_violations(ledger) == []


def test_every_misplaced_serial_is_named() -> None:
    ledger = two_batches()
    # Serials 41-45 of the first batch held twice, 1-10 of the second lost, a counter off.
    ledger.holdings[(BUYER, "JVER-A-001")] += ((41, 45),)
    ledger.holding_kg[(BUYER, "JVER-A-001")] += 5
    ledger.party_kg[BUYER] += 5
    ledger.holdings[(HOLDER, "JVER-A-002")] = ((11, 50),)
    ledger.holding_kg[(HOLDER, "JVER-A-002")] -= 10
    ledger.party_kg[HOLDER] -= 10
    ledger.supply["JVER-A-002"] = Supply(issued_kg=50, tradable_kg=50)
    assert invariant_violations(ledger) == [
        "JVER-A-001: counters Supply(issued_kg=100, tradable_kg=90, pending_kg=0, "
        "retired_kg=10, cancelled_kg=0) disagree with holdings (95, 10, 0)",
        f"JVER-A-001: serial 41 in two places (held by {HOLDER})",
        "JVER-A-002: counters Supply(issued_kg=50, tradable_kg=50, pending_kg=0, "
        "retired_kg=0, cancelled_kg=0) disagree with holdings (40, 0, 0)",
        "JVER-A-002: serial 1 missing (held by 131016)",
    ]


def test_a_holding_that_disagrees_with_its_totals_is_named_first() -> None:
    ledger = two_batches()
    ledger.holding_kg[(HOLDER, "JVER-A-002")] += 1
    assert invariant_violations(ledger) == [
        f"{HOLDER}'s running total of JVER-A-002 disagrees with its serial blocks"
    ]
