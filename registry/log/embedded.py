"""The embedded log: a table beside the event store that plays Kafka's part when no broker
is configured. Inserting a position twice is a no-op, so it is exactly-once by itself."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence

import sqlalchemy as sa

from registry.envelope.codec import SchemaRegistry
from registry.envelope.sealing import EnvelopeError, OpenedEnvelope
from registry.log import GapError, LogRecord, Quarantined, check_record
from registry.support.database import schema_creation_lock
from registry.transparency.checkpoints import Checkpoint

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
        registry_public_keys: Mapping[str, bytes] | None = None,
    ) -> None:
        self.engine = engine
        self.schemas = schemas or SchemaRegistry()
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

    def publish_checkpoints(self, checkpoints: Sequence[Checkpoint]) -> None:
        """Nothing to copy: the embedded log shares the database of the checkpoint table."""

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
                try:
                    envelope = check_record(
                        self.schemas, self.registry_public_keys, position, value
                    )
                except EnvelopeError as error:
                    self.quarantined.append(
                        Quarantined(position, f"embedded row {position}", error.reason)
                    )
                    raise GapError(expected) from error
                yield envelope
                expected += 1
            if len(rows) < READ_PAGE_RECORDS:
                return
