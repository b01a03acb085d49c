"""Persistence of the chain: one eventsourcing stream whose versions are global positions,
each event the sealed envelope's exact bytes. Readers that are not the application (the
relay, the audit, partner tools) open the same recorder through `event_store_recorder`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    Mapper,
    StoredEvent,
    Transcoder,
)
from eventsourcing.utils import Environment

from registry.domain.checks import InvariantViolation
from registry.support.database import schema_creation_lock_for_url

CHAIN_ID = uuid5(NAMESPACE_URL, "credit-registry:chain:v1")
ENVELOPE_TOPIC = "credit_registry.v1.SealedEnvelope"
APPLICATION_NAME = "Registry"  # eventsourcing names its tables and settings by it


@dataclass(frozen=True)
class Sequenced:
    """The eventsourcing domain event of the chain stream: one sealed envelope."""

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    sealed: bytes


class _NoTranscoder(Transcoder):
    """The envelope is already Avro; a transcoder is never asked to encode anything."""

    def encode(self, obj: Any) -> bytes:
        raise AssertionError("the envelope mapper does not use a transcoder")

    def decode(self, data: bytes) -> Any:
        raise AssertionError("the envelope mapper does not use a transcoder")


class EnvelopeMapper(Mapper[UUID]):
    """Stores the sealed envelope bytes verbatim: what was signed is what is stored."""

    def __init__(self) -> None:
        super().__init__(transcoder=_NoTranscoder())

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if not isinstance(domain_event, Sequenced):
            raise InvariantViolation(f"the chain stores envelopes, not {type(domain_event)}")
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=ENVELOPE_TOPIC,
            state=domain_event.sealed,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        if stored_event.topic != ENVELOPE_TOPIC:
            raise InvariantViolation(f"the chain holds envelopes, not {stored_event.topic}")
        return Sequenced(
            originator_id=UUID(str(stored_event.originator_id)),
            originator_version=stored_event.originator_version,
            timestamp=datetime.now(tz=UTC),
            sealed=stored_event.state,
        )


def database_environment(url: str) -> dict[str, str]:
    """Explicit persistence settings for eventsourcing's SQLAlchemy recorder."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing_sqlalchemy",
        "SQLALCHEMY_URL": url,
        "CREATE_TABLE": "y",
    }


def event_store_recorder(database_url: str) -> ApplicationRecorder:
    """The write side's recorder, opened read-only in spirit, without the application."""
    environment = Environment(APPLICATION_NAME, database_environment(database_url))
    with schema_creation_lock_for_url(database_url):
        recorder = InfrastructureFactory.construct(environment).application_recorder()
    if not isinstance(recorder, ApplicationRecorder):
        raise TypeError(f"expected an application recorder, got {type(recorder).__name__}")
    return recorder
