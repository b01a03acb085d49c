"""The relay: follows the event store's chain and publishes every sealed envelope, in order,
to the log (Kafka or the embedded log), recording how far it got in the same database.

Exactly once in effect: a batch is sent and made durable (acks=all, idempotent producer)
before its last position is recorded. A crash between the two re-sends that batch on
restart; readers drop positions they already have. Nothing is ever skipped. The relay needs
no signing key: it moves bytes it cannot change without breaking their signatures.

Health: alive while its loop turns; ready once it has published up to the head it found
when it started (the backlog of a restart), which a steady stream of new writes cannot
postpone the way "lag is zero" could.

A registry-key handover is published beside the checkpoints before the envelope recording
it: readers that see only some partitions learn of a rotation before any envelope sealed by
the new key, or by the old key after it, can reach them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from eventsourcing.persistence import ApplicationRecorder, StoredEvent

from registry.domain.checks import InvariantViolation
from registry.envelope.codec import Codec, SchemaRegistry
from registry.envelope.sealing import open_sealed
from registry.log import LogRecord, Publisher, record_for, rotation_record
from registry.relay.positions import RelayPositions
from registry.support.health import PROCESS_HEALTH, ProcessHealth
from registry.support.observability import RELAY_LAG
from registry.transparency.checkpoints import CheckpointStore
from registry.transparency.registry_keys import Handover, handover_in
from registry.write.persistence import CHAIN_ID

logger = logging.getLogger(__name__)
BATCH_EVENTS_DEFAULT = 500
BACKOFF_MS_MAX = 5_000
PROGRESS_LOG_INTERVAL_S = 5.0


class Relay:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        publisher: Publisher,
        positions: RelayPositions,
        relay_name: str = "log",
        batch_events: int = BATCH_EVENTS_DEFAULT,
        pause_before_commit_ms: int = 0,
        checkpoints: CheckpointStore | None = None,
    ) -> None:
        if not 0 < batch_events <= 100_000:
            raise ValueError(f"batch_events {batch_events}: 1 to 100,000")
        self.recorder = recorder
        self.publisher = publisher
        self.positions = positions
        self.relay_name = relay_name
        self.batch_events = batch_events
        # Fault drills only: widens the window between a durable send and the position
        # commit, so a drill can kill the relay exactly there. Zero in normal operation.
        self.pause_before_commit_ms = pause_before_commit_ms
        self.schemas = SchemaRegistry()
        self.codec = Codec(self.schemas)
        self.checkpoints = checkpoints
        self.published_position = 0  # the last position known published, after a batch

    def head_position(self) -> int:
        latest = self.recorder.select_events(CHAIN_ID, desc=True, limit=1)
        return latest[0].originator_version if latest else 0

    def lag(self) -> int:
        return self.head_position() - self.positions.get(self.relay_name)

    def publish_batch(self) -> int:
        """Publish the next batch; returns how many envelopes it carried (0 when caught up)."""
        after = self.positions.get(self.relay_name)
        stored: Sequence[StoredEvent] = self.recorder.select_events(
            CHAIN_ID, gt=after, limit=self.batch_events
        )
        if not stored:
            self.published_position = after
            return 0
        records: list[LogRecord] = [record_for(self.schemas, event.state) for event in stored]
        if [r.position for r in records] != list(range(after + 1, after + 1 + len(records))):
            raise InvariantViolation(f"chain gap after position {after}: nothing published")
        handovers = self._handovers(records)
        if handovers:
            self.publisher.publish_checkpoints(handovers)
        self.publisher.publish(records)
        if self.pause_before_commit_ms:
            logger.warning(
                "sent positions %d..%d, pausing before commit",
                records[0].position,
                records[-1].position,
            )
            time.sleep(self.pause_before_commit_ms / 1_000)
        self.positions.set(self.relay_name, records[-1].position)
        self._publish_checkpoints(records[-1].position)
        self.published_position = records[-1].position
        return len(records)

    def _handovers(self, records: Sequence[LogRecord]) -> list[Handover]:
        found = []
        for record in records:
            if rotation_record(record):
                handover = handover_in(self.codec, open_sealed(self.schemas, record.value))
                if handover is not None:
                    found.append(handover)
        return found

    def _publish_checkpoints(self, published_position: int) -> None:
        """Checkpoints follow the envelopes they cover, so a reader never sees a checkpoint
        before the history it signs."""
        if self.checkpoints is None:
            return
        name = self.relay_name + ":checkpoints"
        done = self.positions.get(name)
        fresh = [
            c for c in self.checkpoints.all(up_to_size=published_position) if c.tree_size > done
        ]
        if fresh:
            self.publisher.publish_checkpoints(fresh)
            self.positions.set(name, fresh[-1].tree_size)

    def run(
        self,
        stop: threading.Event,
        idle_ms: int = 200,
        exit_when_caught_up: bool = False,
        health: ProcessHealth = PROCESS_HEALTH,
    ) -> None:
        """Publish until stopped. Failures back off and retry the same batch: never skip."""
        backoff_ms = 100
        catching_up = _CatchingUp(health, self.relay_name)
        while not stop.is_set():
            health.progress()
            try:
                if catching_up.target is None:
                    catching_up.begin(self.head_position(), self.positions.get(self.relay_name))
                published = self.publish_batch()
                # Inside the guard: the lag reads the database too, and a database that goes
                # away right after a batch must mean a retry, not a dead relay. Read before
                # labels(): a new labelled gauge shows 0 ("caught up") until it is set.
                lag = self.lag()
                RELAY_LAG.labels(self.relay_name).set(lag)
            except Exception as error:  # broker down, database refusing: retry, bounded backoff
                logger.warning("relay batch failed, retrying in %d ms: %s", backoff_ms, error)
                stop.wait(backoff_ms / 1_000)
                backoff_ms = min(backoff_ms * 2, BACKOFF_MS_MAX)
                continue
            catching_up.report(self.published_position, lag)
            backoff_ms = 100
            if published == 0:
                if exit_when_caught_up:
                    return
                stop.wait(idle_ms / 1_000)


class _CatchingUp:
    """Readiness and the progress log line while the relay works off the backlog it found."""

    def __init__(self, health: ProcessHealth, relay_name: str) -> None:
        self.health = health
        self.relay_name = relay_name
        self.target: int | None = None  # the store's head when the relay started
        self.next_log_s = time.monotonic() + PROGRESS_LOG_INTERVAL_S

    def begin(self, head: int, published: int) -> None:
        self.target = head
        logger.info(
            "relay %s: %d envelopes to publish, from position %d up to %d",
            self.relay_name,
            max(head - published, 0),
            published + 1,
            head,
        )

    def report(self, position: int, lag: int) -> None:
        detail = f"relay {self.relay_name}: published to position {position}, lag {lag}"
        if self.health.caught_up:
            self.health.progress(detail)
            return
        reached = self.target is not None and position >= self.target
        if reached or lag <= 0:
            self.health.mark_caught_up(detail)
            logger.info("caught up: %s", detail)
            return
        self.health.progress(f"catching up to position {self.target}: {detail}")
        if time.monotonic() >= self.next_log_s:
            self.next_log_s = time.monotonic() + PROGRESS_LOG_INTERVAL_S
            logger.info("catching up to position %d: %s", self.target, detail)
