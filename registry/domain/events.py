"""Domain events: what happened, as recorded in an envelope's effects.

One class per Avro schema in `schemas/events/`; field names match the schema exactly, so
the codec maps them without per-type code. Events are facts: never edited, only followed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from registry.domain.serials import SerialBlock


@dataclass(frozen=True, slots=True)
class Beneficiary:
    name: str
    party_id: str | None = None


@dataclass(frozen=True, slots=True)
class PartyRegistered:
    party_id: str
    role: str
    name: str
    name_ja: str | None
    municipality_code: str | None
    registered_by: str


@dataclass(frozen=True, slots=True)
class KeyRegistered:
    party_id: str
    key_id: str
    public_key: bytes


@dataclass(frozen=True, slots=True)
class KeyRotated:
    party_id: str
    retired_key_id: str
    key_id: str
    public_key: bytes


@dataclass(frozen=True, slots=True)
class KeyRevoked:
    party_id: str
    key_id: str
    reason: str
    revoked_by: str


@dataclass(frozen=True, slots=True)
class CreditClassRegistered:
    class_id: str
    name: str
    authorised_issuers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProjectRegistered:
    project_id: str
    class_id: str
    name: str
    location: str
    methodology: str
    proponent_id: str


@dataclass(frozen=True, slots=True)
class CreditsIssued:
    batch_id: str
    class_id: str
    project_id: str
    issuer_id: str
    vintage_start: date
    vintage_end: date
    serial_start: int
    serial_end: int
    quantity_kg: int
    recipient_id: str


@dataclass(frozen=True, slots=True)
class CreditsTransferred:
    from_party_id: str
    to_party_id: str
    blocks: tuple[SerialBlock, ...]
    quantity_kg: int
    memo: str


@dataclass(frozen=True, slots=True)
class CreditsRetired:
    holder_id: str
    blocks: tuple[SerialBlock, ...]
    quantity_kg: int
    beneficiary: Beneficiary
    purpose: str
    reporting_year: int
    memo: str


@dataclass(frozen=True, slots=True)
class CreditsCancelled:
    holder_id: str
    blocks: tuple[SerialBlock, ...]
    quantity_kg: int
    reason: str
    cancelled_by: str


Event = (
    PartyRegistered
    | KeyRegistered
    | KeyRotated
    | KeyRevoked
    | CreditClassRegistered
    | ProjectRegistered
    | CreditsIssued
    | CreditsTransferred
    | CreditsRetired
    | CreditsCancelled
)

EVENT_TYPES: tuple[type[Event], ...] = (
    PartyRegistered,
    KeyRegistered,
    KeyRotated,
    KeyRevoked,
    CreditClassRegistered,
    ProjectRegistered,
    CreditsIssued,
    CreditsTransferred,
    CreditsRetired,
    CreditsCancelled,
)
