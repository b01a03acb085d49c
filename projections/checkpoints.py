"""Copying the registry's signed checkpoints into the read models, after the envelopes they
cover: from the event store's table beside the embedded log, or from the Kafka topic the
relay publishes them to. A copy is idempotent (first row of a size wins, as in the store);
with the registry's keys given, a checkpoint whose signature does not verify is skipped."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy.dialects import postgresql, sqlite

from projections.public_tables import checkpoints as checkpoint_rows
from registry.log.kafka import CHECKPOINTS_SUFFIX
from registry.transparency.checkpoints import Checkpoint, checkpoints_table
from registry.transparency.registry_keys import Keys

logger = logging.getLogger(__name__)
COPY_CHECKPOINTS_MAX = 1_000  # per call; the next call goes on from the newest copied
POLL_TIMEOUT_MS = 200


def record(
    engine: sa.Engine,
    found: Iterable[Checkpoint],
    registry_public_keys: Keys | None = None,
) -> int:
    """Store the checkpoints that verify: under a key history, each by the key that sealed
    its tree size (the history as far as the caller has followed it)."""
    rows = []
    for checkpoint in found:
        if registry_public_keys is not None and not checkpoint.verifies(registry_public_keys):
            logger.warning(
                "skipping checkpoint %d: signature does not verify", checkpoint.tree_size
            )
            continue
        rows.append(
            {
                "tree_size": checkpoint.tree_size,
                "root": checkpoint.root,
                "registry_key_id": checkpoint.registry_key_id,
                "signature": checkpoint.signature,
            }
        )
    if rows:
        insert: Any = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        with engine.begin() as connection:
            connection.execute(insert(checkpoint_rows).on_conflict_do_nothing(), rows)
    return len(rows)


def newest_size(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        size = connection.scalar(sa.select(sa.func.max(checkpoint_rows.c.tree_size)))
    return int(size or 0)


def copy_from_event_store(projection: sa.Engine, event_store: sa.Engine, applied: int) -> int:
    """Checkpoints of at most `applied` envelopes (the contiguous prefix already projected)."""
    c = checkpoints_table.c
    try:
        with event_store.connect() as connection:
            rows = connection.execute(
                sa.select(checkpoints_table)
                .where(c.tree_size > newest_size(projection), c.tree_size <= applied)
                .order_by(c.tree_size)
                .limit(COPY_CHECKPOINTS_MAX)
            ).all()
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):
        return 0  # no checkpoint table there (a log without a registry application)
    return record(
        projection,
        (Checkpoint(r.tree_size, r.root, r.registry_key_id, r.signature) for r in rows),
    )


class KafkaCheckpointFollower:
    """Follows the checkpoint topic from its beginning, in this process; every projection
    worker may run one (the copies are idempotent). The topic is small: one record per
    CHECKPOINT_INTERVAL envelopes."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        registry_public_keys: Keys | None = None,
    ) -> None:
        self.topic = topic + CHECKPOINTS_SUFFIX
        self.registry_public_keys = registry_public_keys
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            client_id="credit-registry-checkpoints",
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
            return 0
        found = []
        for messages in self.consumer.poll(timeout_ms=POLL_TIMEOUT_MS).values():
            for message in messages:
                try:
                    found.append(Checkpoint.from_json(json.loads(message.value)))
                except (ValueError, KeyError, TypeError) as error:
                    logger.warning("skipping checkpoint record %d: %s", message.offset, error)
        try:
            return record(projection, found, self.registry_public_keys)
        except Exception:
            # Not stored: read the (small) topic again from its start next time.
            self.consumer.seek_to_beginning(*self.consumer.assignment())
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
