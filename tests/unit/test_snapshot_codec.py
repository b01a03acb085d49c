"""The snapshot's encoding of the ledger names every field the ledger has: a field added to
the ledger and not to the snapshot's tables fails here and makes writing a snapshot fail,
so a snapshot can never leave out state that a decision depends on."""

from __future__ import annotations

import pytest

from registry.domain.ledger import Ledger
from registry.write.snapshot_codec import (
    LEDGER_TABLES,
    NOT_KEPT,
    SnapshotLayoutError,
    decode_ledger,
    encode_ledger,
)


def test_the_snapshot_names_every_field_of_the_ledger() -> None:
    assert set(vars(Ledger())) == set(LEDGER_TABLES) | NOT_KEPT


def test_a_field_the_snapshot_does_not_know_stops_it() -> None:
    ledger = Ledger()
    ledger.new_table = {}  # type: ignore[attr-defined]
    with pytest.raises(SnapshotLayoutError, match="new_table"):
        encode_ledger(ledger)


def test_an_empty_ledger_round_trips_and_a_copy_is_independent() -> None:
    ledger = Ledger()
    assert vars(decode_ledger(encode_ledger(ledger))) == vars(ledger)
    copy = ledger.copy()
    copy.parties["x"] = None  # type: ignore[assignment]
    assert "x" not in ledger.parties and vars(copy) != vars(ledger)


def test_no_snapshot_of_a_ledger_inside_a_transaction() -> None:
    ledger = Ledger()
    ledger.begin()
    with pytest.raises(SnapshotLayoutError, match="transaction"):
        encode_ledger(ledger)
