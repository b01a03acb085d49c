"""Copying witnesses' cosignatures into the read models: from the embedded witness log in the
event store's database, or from the `<topic>.witness` Kafka topic. Only cosignatures that
verify (the witness's signature, and its consistency step) are copied, once per checkpoint
and witness key. Evidence of a split history is logged as an error and not copied: the
read models show what witnesses vouch for, and people judge the evidence (the witness's
`status --json`, or the record on the witness log, has both signed checkpoints)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy.dialects import postgresql, sqlite

from projections.public_tables import witness_cosignatures as rows_table
from registry.log.kafka import WITNESS_SUFFIX
from registry.transparency.witnessing import Cosignature, parse_witness_record, witness_log

logger = logging.getLogger(__name__)
READ_PAGE_RECORDS = 1_000
POLL_TIMEOUT_MS = 200


def record(engine: sa.Engine, values: Iterable[bytes]) -> int:
    """Store the cosignatures among `values` (witness log records) that verify."""
    rows = []
    for value in values:
        try:
            found = parse_witness_record(value)
        except (ValueError, KeyError, TypeError) as error:
            logger.warning("skipping an unreadable witness record: %s", error)
            continue
        if not isinstance(found, Cosignature):
            logger.error(
                "witness %s (%s) reports a split history at size %d: %s",
                found.witness_id,
                found.evidence_id,
                found.tree_size,
                found.reason,
            )
            continue
        if not found.verifies():
            logger.warning("skipping a cosignature that does not verify (%s)", found.key_id)
            continue
        rows.append(
            {
                "tree_size": found.tree_size,
                "root": found.checkpoint.root,
                "witness_key_id": found.key_id,
                "witness_id": found.witness_id,
                "public_key": found.public_key,
                "signature": found.signature,
            }
        )
    if rows:
        insert: Any = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        with engine.begin() as connection:
            connection.execute(insert(rows_table).on_conflict_do_nothing(), rows)
    return len(rows)


def copy_from_event_store(projection: sa.Engine, event_store: sa.Engine) -> int:
    """The embedded witness log, page by page (one record per checkpoint and witness)."""
    c = witness_log.c
    copied, after = 0, 0
    while True:
        try:
            with event_store.connect() as connection:
                page = connection.execute(
                    sa.select(c.sequence, c.record_value)
                    .where(c.sequence > after)
                    .order_by(c.sequence)
                    .limit(READ_PAGE_RECORDS)
                ).all()
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):
            return copied  # no witness has written there
        copied += record(projection, (bytes(row.record_value) for row in page))
        if len(page) < READ_PAGE_RECORDS:
            return copied
        after = page[-1].sequence


class KafkaWitnessFollower:
    """Follows the witness topic from its beginning, in this process (copies are idempotent,
    so every projection worker may run one)."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.topic = topic + WITNESS_SUFFIX
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            client_id="credit-registry-witness-records",
        )
        self.assigned = False

    def _assign(self) -> bool:
        numbers = sorted(self.consumer.partitions_for_topic(self.topic) or ())
        if numbers:
            partitions = [TopicPartition(self.topic, number) for number in numbers]
            self.consumer.assign(partitions)
            self.consumer.seek_to_beginning(*partitions)
            self.assigned = True
        return self.assigned

    def poll(self, projection: sa.Engine) -> int:
        if not self.assigned and not self._assign():
            return 0  # no witness topic (yet): nothing to copy
        values = [
            message.value
            for messages in self.consumer.poll(timeout_ms=POLL_TIMEOUT_MS).values()
            for message in messages
        ]
        try:
            return record(projection, values)
        except Exception:
            self.consumer.seek_to_beginning(*self.consumer.assignment())  # read again next time
            raise

    def catch_up(self, projection: sa.Engine) -> int:
        """Everything on the topic now, then return."""
        if not self.assigned and not self._assign():
            return 0
        partitions = list(self.consumer.assignment())
        end = self.consumer.end_offsets(partitions)
        copied = 0
        while any(self.consumer.position(p) < end[p] for p in partitions):
            copied += self.poll(projection)
        return copied

    def close(self) -> None:
        self.consumer.close()
