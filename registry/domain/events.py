"""Domain events: what happened, as recorded in an envelope's effects.

One class per Avro schema in `schemas/events/`; field names match the schema exactly, so
the codec maps them without per-type code. Events are facts: never edited, only followed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from registry.domain.emissions import Factor, MeetingInputs
from registry.domain.serials import SerialBlock


@dataclass(frozen=True, slots=True)
class Beneficiary:
    name: str
    party_id: str | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    """Where issued credits already exist: a registry (e.g. JP-JVER), the project's id
    there and the serial range there, counted in kilograms like serials here (a registry
    that numbers tonnes is given as kilograms: tonne n is kilograms 1000n-999..1000n)."""

    registry_id: str
    project_id: str
    serial_start: int
    serial_end: int

    @property
    def quantity_kg(self) -> int:
        return self.serial_end - self.serial_start + 1


@dataclass(frozen=True, slots=True)
class CarriedLabel:
    """A label on serials of a batch, as a retirement records it: valid when decided."""

    batch_id: str
    label: str
    serial_start: int
    serial_end: int
    valid_from: date
    valid_until: date


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
class RecoveryKeySet:
    party_id: str
    key_id: str
    public_key: bytes
    replaced_key_id: str | None  # the recovery key it replaces, if the party had one


@dataclass(frozen=True, slots=True)
class KeyRecovered:
    party_id: str
    recovery_key_id: str  # the recovery key that signed it
    key_id: str
    public_key: bytes
    revoked_key_ids: tuple[str, ...]  # the party's signing keys, revoked


@dataclass(frozen=True, slots=True)
class RecoveryStarted:
    party_id: str
    recovery_id: str
    key_id: str
    public_key: bytes
    reason: str
    started_by: str
    cosigned_by: tuple[str, ...]
    started_at_us: int
    due_at_us: int  # no completion before this decision time


@dataclass(frozen=True, slots=True)
class RecoveryVetoed:
    party_id: str
    recovery_id: str
    vetoed_with_key_id: str


@dataclass(frozen=True, slots=True)
class RecoveryCompleted:
    party_id: str
    recovery_id: str
    key_id: str
    public_key: bytes
    revoked_key_ids: tuple[str, ...]  # every key the party still had


@dataclass(frozen=True, slots=True)
class RegistryKeyRotated:
    retired_key_id: str
    key_id: str
    public_key: bytes
    effective_after_position: int  # the last position the retired key seals
    handover_signature: bytes


@dataclass(frozen=True, slots=True)
class CreditClassRegistered:
    class_id: str
    name: str
    authorised_issuers: tuple[str, ...]
    # v2: who adds and withdraws labels on the class's serials, and the share of each
    # issuance withheld in the class's buffer account (per mille; 0: none).
    label_authority_id: str | None = None
    buffer_share_permille: int = 0


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
    origin: Origin | None = None  # v2: the same credits in another registry


@dataclass(frozen=True, slots=True)
class CreditsBuffered:
    """At issuance, the class's buffer share of the batch (its highest serials) is withheld
    from the recipient into the class's buffer account; it leaves only by a reversal."""

    batch_id: str
    recipient_id: str
    buffer_id: str  # buffer:<CLASS_ID>
    blocks: tuple[SerialBlock, ...]
    quantity_kg: int
    share_permille: int


@dataclass(frozen=True, slots=True)
class LabelAdded:
    """The class's label authority put a label on serials of a batch, valid on the days
    valid_from..valid_until (both inclusive, days in Japan)."""

    batch_id: str
    serial_start: int
    serial_end: int
    label: str
    valid_from: date
    valid_until: date
    authority_id: str


@dataclass(frozen=True, slots=True)
class LabelWithdrawn:
    batch_id: str
    serial_start: int
    serial_end: int
    label: str
    reason: str
    authority_id: str


@dataclass(frozen=True, slots=True)
class ReversalReported:
    """Absorption of a project was reversed (fire, storm, development): the reversed
    quantity is cancelled from the project's credits in the buffer account, and what the
    buffer could not cover is reported as the shortfall. No holder loses credits."""

    project_id: str
    class_id: str
    quantity_kg: int
    reason: str
    reported_by: str
    buffer_id: str
    blocks: tuple[SerialBlock, ...]  # cancelled from the buffer
    cancelled_kg: int
    shortfall_kg: int


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
    reference: str | None = None  # what it offsets, e.g. pool:X/meeting:Y (schema v2)
    # v3: where the offset emissions happened (a municipality code or an ISO 3166-2 code),
    # the label the retirement required, and the labels its serials carried when decided.
    location: str | None = None
    required_label: str | None = None
    labels: tuple[CarriedLabel, ...] = ()


@dataclass(frozen=True, slots=True)
class CreditsCancelled:
    holder_id: str
    blocks: tuple[SerialBlock, ...]
    quantity_kg: int
    reason: str
    cancelled_by: str


@dataclass(frozen=True, slots=True)
class PoolOpened:
    pool_id: str
    name: str
    fiscal_year: int
    members: tuple[str, ...]
    opened_by: str


@dataclass(frozen=True, slots=True)
class MeetingRegistered:
    pool_id: str
    meeting_id: str
    organiser_id: str
    name: str
    held_on: date
    category: str
    expected_participants: int
    estimate_kg: int
    estimate_basis: str
    # v2: the estimate's inputs and factor table (None in history written before them).
    factor_table_version: str | None = None
    estimate_inputs: MeetingInputs | None = None


@dataclass(frozen=True, slots=True)
class MeetingCalculated:
    pool_id: str
    meeting_id: str
    actual_participants: int
    calculated_kg: int  # decided by the rules from the inputs (v2)
    calculation_basis: str
    # v2: the inputs and factor table the figure was calculated from.
    factor_table_version: str | None = None
    inputs: MeetingInputs | None = None


@dataclass(frozen=True, slots=True)
class MeetingAllocation:
    meeting_id: str
    organiser_id: str
    calculated_kg: int
    allocated_kg: int


@dataclass(frozen=True, slots=True)
class PoolAllocated:
    pool_id: str
    pool_kg: int
    rule: str
    allocations: tuple[MeetingAllocation, ...]


@dataclass(frozen=True, slots=True)
class MeetingOffset:
    pool_id: str
    meeting_id: str
    organiser_id: str
    retired_kg: int


@dataclass(frozen=True, slots=True)
class FactorTableRegistered:
    version: str
    factors: tuple[Factor, ...]
    registered_by: str


@dataclass(frozen=True, slots=True)
class PoolFunded:
    """Credits moved from the buyer into the pool's own holding."""

    pool_id: str
    from_party_id: str
    blocks: tuple[SerialBlock, ...]
    quantity_kg: int


@dataclass(frozen=True, slots=True)
class PoolRemainderReturned:
    pool_id: str
    to_party_id: str
    blocks: tuple[SerialBlock, ...]
    quantity_kg: int


@dataclass(frozen=True, slots=True)
class PoolRemainderCarried:
    pool_id: str
    to_pool_id: str
    blocks: tuple[SerialBlock, ...]
    quantity_kg: int


@dataclass(frozen=True, slots=True)
class AgreementSigned:
    agreement_id: str
    provider_id: str
    user_id: str
    start_date: date
    term_years: int
    expected_annual_kg: int
    purpose: str
    signer_id: str
    in_force: bool


@dataclass(frozen=True, slots=True)
class DeliveryProposed:
    agreement_id: str
    delivery_id: str
    provider_id: str
    user_id: str
    fiscal_year: int
    blocks: tuple[SerialBlock, ...]
    quantity_kg: int
    deadline_us: int


@dataclass(frozen=True, slots=True)
class DeliveryResolved:
    agreement_id: str
    delivery_id: str
    outcome: str  # accepted, rejected, expired
    provider_id: str
    user_id: str
    blocks: tuple[SerialBlock, ...]
    quantity_kg: int
    reason: str


@dataclass(frozen=True, slots=True)
class Contribution:
    contributor: str
    serial_start: int
    serial_end: int


@dataclass(frozen=True, slots=True)
class ContributionsRecorded:
    batch_id: str
    contributions: tuple[Contribution, ...]


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
    | PoolOpened
    | MeetingRegistered
    | MeetingCalculated
    | PoolAllocated
    | MeetingOffset
    | AgreementSigned
    | DeliveryProposed
    | DeliveryResolved
    | ContributionsRecorded
    | FactorTableRegistered
    | PoolFunded
    | PoolRemainderReturned
    | PoolRemainderCarried
    | RecoveryKeySet
    | KeyRecovered
    | RecoveryStarted
    | RecoveryVetoed
    | RecoveryCompleted
    | RegistryKeyRotated
    | CreditsBuffered
    | LabelAdded
    | LabelWithdrawn
    | ReversalReported
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
    PoolOpened,
    MeetingRegistered,
    MeetingCalculated,
    PoolAllocated,
    MeetingOffset,
    AgreementSigned,
    DeliveryProposed,
    DeliveryResolved,
    ContributionsRecorded,
    FactorTableRegistered,
    PoolFunded,
    PoolRemainderReturned,
    PoolRemainderCarried,
    RecoveryKeySet,
    KeyRecovered,
    RecoveryStarted,
    RecoveryVetoed,
    RecoveryCompleted,
    RegistryKeyRotated,
    CreditsBuffered,
    LabelAdded,
    LabelWithdrawn,
    ReversalReported,
)
