"""The embedded log: a table beside the event store that plays Kafka's part when no broker
is configured. Inserting a position twice is a no-op, so it is exactly-once by itself.

Read in order, so with keys it verifies the chain (every hash link, one countersignature a
run: transparency/chain.py) and follows the registry's key history from the envelopes; a read that starts after
position 0 first takes up the handovers recorded before it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import sqlalchemy as sa

from registry.domain.ledger import GENESIS_HASH
from registry.envelope.codec import Codec, SchemaRegistry
from registry.envelope.sealing import EnvelopeError, OpenedEnvelope, envelope_hash
from registry.log import GapError, LogRecord, Quarantined, check_record
from registry.support.database import schema_creation_lock
from registry.transparency.chain import ChainHead, verified_runs
from registry.transparency.checkpoints import Checkpoint
from registry.transparency.registry_keys import (
    Handover,
    Keys,
    RegistryKeyHistory,
    follow_envelope,
    pinned_keys,
)

metadata = sa.MetaData()
embedded_log = sa.Table(
    "embedded_log",
    metadata,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("record_key", sa.LargeBinary, nullable=False),
    sa.Column("record_value", sa.LargeBinary, nullable=False),
    sa.Column("headers", sa.Text, nullable=False),
)
READ_PAGE_RECORDS = 1_000


class EmbeddedLog:
    def __init__(
        self,
        engine: sa.Engine,
        schemas: SchemaRegistry | None = None,
        registry_public_keys: Keys | None = None,
    ) -> None:
        self.engine = engine
        self.schemas = schemas or SchemaRegistry()
        self.codec = Codec(self.schemas)
        self.registry_public_keys = registry_public_keys
        self.quarantined: list[Quarantined] = []
        with schema_creation_lock(engine):
            metadata.create_all(engine)

    def publish(self, records: Sequence[LogRecord]) -> None:
        if not records:
            return
        positions = [record.position for record in records]
        with self.engine.begin() as connection:
            present = set(
                connection.scalars(
                    sa.select(embedded_log.c.position).where(
                        embedded_log.c.position.between(min(positions), max(positions))
                    )
                )
            )
            rows = [
                {
                    "position": record.position,
                    "record_key": record.key,
                    "record_value": record.value,
                    "headers": json.dumps(
                        {name: value.decode() for name, value in record.headers.items()}
                    ),
                }
                for record in records
                if record.position not in present
            ]
            if rows:
                connection.execute(embedded_log.insert(), rows)

    def publish_checkpoints(self, checkpoints: Sequence[Checkpoint | Handover]) -> None:
        """Nothing to copy: the embedded log shares the database of the checkpoint table,
        and its in-order readers take handovers up from the envelopes themselves."""

    def close(self) -> None:
        """Nothing to release: the engine belongs to the caller."""

    def head_position(self) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.scalar(
                    sa.select(sa.func.coalesce(sa.func.max(embedded_log.c.position), 0))
                )
                or 0
            )

    def read(self, after_position: int = 0) -> Iterator[OpenedEnvelope]:
        """With keys, the chain is verified a run at a time (transparency/chain.py): every
        hash link, and the countersignature of each run's last envelope, before any of
        the run is handed out. A record that fails is quarantined at its own position."""
        history = self._history_through(after_position)
        if history is None:
            for position, value in self._rows(after_position):
                yield self._checked(None, position, value)
            return
        head = ChainHead(after_position, self._hash_at(after_position))
        runs = verified_runs(self._opened(after_position), history, self.schemas, head)
        try:
            for run in runs:
                for envelope in run:
                    follow_envelope(history, self.codec, envelope)
                    yield envelope
        except EnvelopeError as error:
            position = head.position + 1 if error.position is None else error.position
            self.quarantined.append(Quarantined(position, f"embedded row {position}", error.reason))
            raise GapError(position) from error

    def _rows(self, after_position: int) -> Iterator[tuple[int, bytes]]:
        """(position, sealed bytes) after `after_position`, page by page, without a gap."""
        expected = after_position + 1
        while True:
            with self.engine.connect() as connection:
                rows = connection.execute(
                    sa.select(embedded_log.c.position, embedded_log.c.record_value)
                    .where(embedded_log.c.position >= expected)
                    .order_by(embedded_log.c.position)
                    .limit(READ_PAGE_RECORDS)
                ).all()
            for position, value in rows:
                if position != expected:
                    raise GapError(expected)
                yield position, value
                expected += 1
            if len(rows) < READ_PAGE_RECORDS:
                return

    def _opened(self, after_position: int) -> Iterator[OpenedEnvelope]:
        for position, value in self._rows(after_position):
            try:
                yield check_record(self.schemas, None, position, value)
            except EnvelopeError as error:
                raise EnvelopeError(error.reason, position) from None

    def _hash_at(self, position: int) -> bytes | None:
        """The hash the envelope after `position` must link to: of the row there."""
        if position == 0:
            return GENESIS_HASH
        with self.engine.connect() as connection:
            value = connection.scalar(
                sa.select(embedded_log.c.record_value).where(embedded_log.c.position == position)
            )
        return None if value is None else envelope_hash(value)

    def _checked(
        self, history: RegistryKeyHistory | None, position: int, value: bytes
    ) -> OpenedEnvelope:
        try:
            envelope = check_record(self.schemas, history, position, value)
            if history is not None:
                follow_envelope(history, self.codec, envelope)
        except EnvelopeError as error:
            self.quarantined.append(Quarantined(position, f"embedded row {position}", error.reason))
            raise GapError(position) from error
        return envelope

    def _history_through(self, position: int) -> RegistryKeyHistory | None:
        """The key history up to `position`: from the pinned keys along the handovers in
        the rows up to there (found by their event-types header), each checked in turn."""
        if self.registry_public_keys is None:
            return None
        history = RegistryKeyHistory(pinned_keys(self.registry_public_keys))
        if position == 0:
            return history
        log = embedded_log.c
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(log.position, log.record_value)
                .where(log.position <= position)
                .where(sa.or_(log.position == 1, log.headers.like("%RegistryKeyRotated%")))
                .order_by(log.position)
            ).all()
        for row_position, value in rows:
            self._checked(history, row_position, value)
        return history
