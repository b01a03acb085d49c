"""The shared, replayable history: records that carry sealed envelopes, the publisher
interface the relay writes through, and the reader every consumer uses.

Two implementations share these interfaces: Kafka (production) and an embedded log table
(the default, so one command runs everything without a broker)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from registry.envelope.codec import HEADER_LENGTH, SchemaRegistry
from registry.envelope.sealing import EnvelopeError, OpenedEnvelope, open_sealed
from registry.transparency.checkpoints import Checkpoint
from registry.transparency.registry_keys import Handover, Keys, history_of

POSITION_HEADER = "position"
EVENT_TYPES_HEADER = "event-types"
FINGERPRINT_HEADER = "schema-fingerprint"


@dataclass(frozen=True, slots=True)
class LogRecord:
    position: int
    key: bytes
    value: bytes  # the sealed envelope, byte for byte as stored
    headers: Mapping[str, bytes] = field(default_factory=dict)


def record_for(schemas: SchemaRegistry, sealed: bytes) -> LogRecord:
    """Build the log record of a stored envelope: key = the actor (the party whose command
    it is, so one party's history stays in one partition), headers for routing and triage."""
    envelope = open_sealed(schemas, sealed)
    event_types = ",".join(
        schemas.by_fingerprint[effect[2:HEADER_LENGTH]].name.rsplit(".", 1)[-1]
        for effect in envelope.body.effects
    )
    headers = {
        POSITION_HEADER: str(envelope.body.position).encode(),
        EVENT_TYPES_HEADER: event_types.encode(),
        FINGERPRINT_HEADER: sealed[2:HEADER_LENGTH].hex().encode(),
    }
    return LogRecord(
        envelope.body.position, envelope.body.command.actor_id.encode(), sealed, headers
    )


class Publisher(Protocol):
    def publish(self, records: Sequence[LogRecord]) -> None:
        """Return only when every record is durable; raise otherwise (the caller retries)."""

    def publish_checkpoints(self, checkpoints: Sequence[Checkpoint | Handover]) -> None:
        """Make signed checkpoints and registry-key handovers available beside the
        envelopes, where every reader finds them (durable on return)."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class Quarantined:
    """A record that is not a trustworthy envelope, with where it was and why."""

    position: int | None
    where: str  # e.g. "partition 2 offset 17" or "embedded row 5"
    reason: str


class LogReader(Protocol):
    quarantined: list[Quarantined]

    def read(self, after_position: int = 0) -> Iterator[OpenedEnvelope]:
        """Envelopes after `after_position`, in global order, each exactly once."""
        ...


class GapError(Exception):
    def __init__(self, position: int) -> None:
        self.position = position
        super().__init__(f"position {position} is missing from the log")


def check_record(
    schemas: SchemaRegistry,
    registry_public_keys: Keys | None,
    header_position: int | None,
    value: bytes,
) -> OpenedEnvelope:
    """Open and, with keys given, countersignature-check one record: by the key the key
    history gives its position. Raises EnvelopeError with a reason fit for the quarantine
    report."""
    envelope = open_sealed(schemas, value)
    if header_position is not None and envelope.body.position != header_position:
        raise EnvelopeError(
            f"position header {header_position} differs from the envelope's", envelope.body.position
        )
    if registry_public_keys is not None:
        history_of(registry_public_keys).check(envelope)
    return envelope


def rotation_record(record: LogRecord) -> bool:
    """Whether the record's envelope hands the registry key over (its event-types header)."""
    return b"RegistryKeyRotated" in record.headers.get(EVENT_TYPES_HEADER, b"").split(b",")


def parse_position(headers: Mapping[str, bytes]) -> int | None:
    raw = headers.get(POSITION_HEADER)
    if raw is None or not raw.isdigit() or len(raw) > 19:
        return None
    return int(raw)
