"""In-order readers verify the chain, not every countersignature.

Envelope i+1's countersigned body holds the SHA-256 of envelope i's sealed bytes
(`previous_hash`). So one verified countersignature on the last envelope of a run, with
every hash link of the run checked in order, authenticates every earlier envelope of the
run byte for byte, back to the envelope before the run. A reader that sees every position
in order (the write side's catch-up, a projection catch-up or rebuild, the audit) checks
every link and one countersignature per run; a reader of only some partitions cannot link
its records and keeps checking each one (projections/checking.py).

A run never spans a registry-key handover: it ends at the envelope that records one (found
by the effects' schema fingerprints, without decoding them), and the caller follows the
handover before the next run is checked. Every envelope of a run must name the registry
key its last one names: the one key the history gives those positions.

Nothing of a run is handed out before its last countersignature verifies. When it does not,
or a link breaks, the run's envelopes are checked one by one in order, each handed out on
its own (so the caller follows each before the next is judged, as a per-envelope reader
does), and the first that fails is reported at its own position: an altered envelope's own
countersignature fails, and the link after it breaks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from registry.domain.ledger import GENESIS_HASH
from registry.envelope.codec import SchemaRegistry
from registry.envelope.sealing import EnvelopeError, OpenedEnvelope, check_place
from registry.transparency.registry_keys import RegistryKeyHistory, records_handover

RUN_ENVELOPES_MAX = 1_000  # one countersignature check per this many envelopes at most


@dataclass
class ChainHead:
    """The last envelope a reader verified: its position (0: none yet) and its hash
    (None when the reader starts after a position whose envelope it does not have: the
    first link is then not checked, and the run's countersignature still covers it)."""

    position: int = 0
    hash: bytes | None = GENESIS_HASH

    def check_next(self, envelope: OpenedEnvelope, envelope_hash: bytes) -> None:
        """The envelope is the next one and links to the head; the head moves on to it."""
        if self.hash is None:
            check_place(envelope, self.position + 1, envelope.body.previous_hash)
        else:
            check_place(envelope, self.position + 1, self.hash)
        self.position, self.hash = envelope.body.position, envelope_hash


def verified_runs(
    envelopes: Iterable[OpenedEnvelope],
    history: RegistryKeyHistory,
    schemas: SchemaRegistry,
    head: ChainHead,
    run_envelopes_max: int = RUN_ENVELOPES_MAX,
) -> Iterator[list[OpenedEnvelope]]:
    """The envelopes after `head`, in runs whose chain verifies. The caller applies each
    run (following any handover it records) before asking for the next; `head` moves to
    the last envelope handed out. Raises EnvelopeError at the first envelope that fails,
    once every envelope before it has been handed out."""
    if run_envelopes_max < 1:
        raise ValueError("a run holds at least one envelope")
    run: list[OpenedEnvelope] = []
    for envelope in envelopes:
        run.append(envelope)
        if len(run) >= run_envelopes_max or records_handover(schemas, envelope):
            yield from _verified(run, history, head)
            run = []
    if run:
        yield from _verified(run, history, head)


def _verified(
    run: list[OpenedEnvelope], history: RegistryKeyHistory, head: ChainHead
) -> Iterator[list[OpenedEnvelope]]:
    if _chain_holds(run, history, head):
        yield run
        return
    yield from _one_by_one(run, history, head)


def _chain_holds(run: list[OpenedEnvelope], history: RegistryKeyHistory, head: ChainHead) -> bool:
    """Every link of the run, then the last envelope's countersignature. Moves `head` to
    the run's end only when all of it holds."""
    trial = ChainHead(head.position, head.hash)
    key_id = run[-1].registry_key_id
    try:
        for envelope in run:
            if envelope.registry_key_id != key_id:
                return False
            trial.check_next(envelope, envelope.hash)
        history.check(run[-1])
    except EnvelopeError:
        return False
    head.position, head.hash = trial.position, trial.hash
    return True


def _one_by_one(
    run: list[OpenedEnvelope], history: RegistryKeyHistory, head: ChainHead
) -> Iterator[list[OpenedEnvelope]]:
    """Each envelope's own countersignature, then its place: the first that fails raises
    at its position, after those before it were handed out one at a time. (A run can
    also pass here whole: envelopes naming different pinned keys, each of which verifies,
    are judged one at a time, the first settling which key the history starts from.)"""
    for envelope in run:
        history.check(envelope)
        head.check_next(envelope, envelope.hash)
        yield [envelope]
