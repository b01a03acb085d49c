"""Where a witness reads the log and publishes its records: the embedded log (the table the
relay fills beside the event store, its checkpoint table, and the embedded witness log), or
Kafka (registry/witness/kafka.py). Either way the witness is handed envelopes in order and
the signed checkpoints, and checks every seal itself: the readers here only open records."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import sqlalchemy as sa

from registry.envelope.sealing import OpenedEnvelope
from registry.log import GapError
from registry.log.embedded import EmbeddedLog
from registry.transparency.checkpoints import Checkpoint, CheckpointStore
from registry.transparency.witnessing import EmbeddedWitnessLog, WitnessRecord


class BrokenLog(Exception):
    """The log holds a record at `position` that is not an envelope: nothing after it can
    be followed."""

    def __init__(self, position: int, reason: str) -> None:
        self.position = position
        self.reason = reason
        super().__init__(f"position {position}: {reason}")


class Follow(Protocol):
    description: str

    def checkpoints(self) -> list[Checkpoint]:
        """Signed checkpoints found since the last call (ones seen before may come again)."""
        ...

    def envelopes(self) -> Iterator[OpenedEnvelope]:
        """The envelopes after those already given, in order, up to the log's end now."""
        ...

    def waiting(self) -> bool:
        """Records are held back: a position before them has not arrived yet."""
        ...

    def publish(self, records: Sequence[WitnessRecord]) -> None:
        """Durable on return; raise otherwise (the witness publishes again later)."""
        ...

    def close(self) -> None: ...


class EmbeddedFollow:
    """The embedded log in the event store's database. The checkpoint table is read whole on
    every call (one row per thousand envelopes): a row changed after the witness judged it
    is judged again, and a second root for a size it cosigned is a split history."""

    def __init__(self, database_url: str) -> None:
        engine = sa.create_engine(database_url)
        self.description = "embedded log"
        self.log = EmbeddedLog(engine)  # no keys: the witness checks every seal in order
        self.checkpoint_store = CheckpointStore(engine)
        self.witness_log = EmbeddedWitnessLog(engine)
        self.position = 0

    def checkpoints(self) -> list[Checkpoint]:
        return self.checkpoint_store.all()

    def envelopes(self) -> Iterator[OpenedEnvelope]:
        try:
            for envelope in self.log.read(self.position):
                self.position = envelope.body.position
                yield envelope
        except GapError as gap:
            for quarantined in self.log.quarantined:
                raise BrokenLog(gap.position, quarantined.reason) from None
            raise  # a row not there yet: read again later

    def waiting(self) -> bool:
        return False

    def publish(self, records: Sequence[WitnessRecord]) -> None:
        self.witness_log.publish(records)

    def close(self) -> None:
        """Nothing to release: the engine goes with the process."""
