"""Commands: what an actor asks for. The codec decodes the signed bytes into these.

Field names match `schemas/command.v4.avsc`. A command names its actor and key inside
the signed bytes, so a signature cannot be lifted onto another actor's request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from registry.domain.emissions import Factor, MeetingInputs
from registry.domain.events import Beneficiary, Origin


@dataclass(frozen=True, slots=True)
class RetirementDetails:
    beneficiary: Beneficiary
    purpose: str
    reporting_year: int
    memo: str = ""
    reference: str | None = None  # what it offsets, e.g. agreement:AKISHIMA-IWAIZUMI
    # Schema v6: where the offset emissions happened (a municipality code such as 132071,
    # or an ISO 3166-2 code such as JP-13), and a label every retired kilogram must carry.
    location: str | None = None
    required_label: str | None = None


@dataclass(frozen=True, slots=True)
class RegisterParty:
    party_id: str
    role: str
    name: str
    public_key: bytes
    name_ja: str | None = None
    recovery_public_key: bytes | None = None  # command schema v4; kept offline by the party


@dataclass(frozen=True, slots=True)
class RotateKey:
    party_id: str
    retired_key_id: str
    public_key: bytes


@dataclass(frozen=True, slots=True)
class RevokeKey:
    party_id: str
    key_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class RegisterKey:
    party_id: str
    public_key: bytes


@dataclass(frozen=True, slots=True)
class SetRecoveryKey:
    """Give a party a recovery key (signed by its signing key, while it has none) or replace
    its recovery key (signed by that recovery key)."""

    party_id: str
    public_key: bytes


@dataclass(frozen=True, slots=True)
class RecoverKey:
    """Signed by the party's recovery key: its signing keys are revoked, this one installed."""

    party_id: str
    public_key: bytes


@dataclass(frozen=True, slots=True)
class StartRecovery:
    """The operator's recovery of a party that lost both keys; needs an auditor's
    co-signature and takes effect only after the public waiting period, unless vetoed."""

    party_id: str
    recovery_id: str
    public_key: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class VetoRecovery:
    """Signed by any active key of the party: the recovery is cancelled."""

    party_id: str
    recovery_id: str


@dataclass(frozen=True, slots=True)
class CompleteRecovery:
    """After the waiting period, by any party: the recovery's key is installed."""

    party_id: str
    recovery_id: str


@dataclass(frozen=True, slots=True)
class RotateRegistryKey:
    """The operator hands the registry's countersigning key over to a new one. The outgoing
    registry key signs the handover (see transparency/registry_keys.py), so only its
    holder can rotate; the envelope at `effective_after_position` is the last it seals."""

    retired_key_id: str
    public_key: bytes
    effective_after_position: int
    handover_signature: bytes


@dataclass(frozen=True, slots=True)
class RegisterCreditClass:
    class_id: str
    name: str
    authorised_issuers: tuple[str, ...]
    # Schema v6: the party that labels the class's serials, and the buffer share withheld
    # from each issuance (per mille, e.g. 100 = 10 %).
    label_authority_id: str | None = None
    buffer_share_permille: int = 0


@dataclass(frozen=True, slots=True)
class RegisterProject:
    project_id: str
    class_id: str
    name: str
    location: str
    methodology: str
    proponent_id: str


@dataclass(frozen=True, slots=True)
class IssueCredits:
    project_id: str
    vintage_start: date
    vintage_end: date
    quantity_kg: int
    recipient_id: str
    origin: Origin | None = None  # schema v6: the same credits in another registry


@dataclass(frozen=True, slots=True)
class TransferCredits:
    from_party_id: str
    to_party_id: str
    quantity_kg: int
    batch_id: str | None = None
    memo: str = ""
    retire_on_arrival: RetirementDetails | None = None


@dataclass(frozen=True, slots=True)
class RetireCredits:
    holder_id: str
    quantity_kg: int
    details: RetirementDetails
    batch_id: str | None = None


@dataclass(frozen=True, slots=True)
class CancelCredits:
    holder_id: str
    batch_id: str
    quantity_kg: int
    reason: str


@dataclass(frozen=True, slots=True)
class OpenPool:
    pool_id: str
    name: str
    fiscal_year: int
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RegisterMeeting:
    pool_id: str
    meeting_id: str
    name: str
    held_on: date
    category: str
    expected_participants: int
    estimate_kg: int
    estimate_basis: str
    # Schema v5: the estimate goes through the calculator; the rules check estimate_kg.
    factor_table_version: str | None = None
    estimate_inputs: MeetingInputs | None = None


@dataclass(frozen=True, slots=True)
class RecordMeetingResult:
    pool_id: str
    meeting_id: str
    actual_participants: int
    calculated_kg: int
    calculation_basis: str
    # Schema v5: what happened, and the table it is calculated with; the rules decide the
    # figure and refuse calculated_kg when it differs.
    factor_table_version: str | None = None
    inputs: MeetingInputs | None = None


@dataclass(frozen=True, slots=True)
class RegisterFactorTable:
    version: str
    factors: tuple[Factor, ...]


@dataclass(frozen=True, slots=True)
class FundPool:
    """The buyer (the pool's operator or a member) moves its credits into the pool."""

    pool_id: str
    quantity_kg: int
    batch_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReturnPoolRemainder:
    pool_id: str
    to_party_id: str
    quantity_kg: int


@dataclass(frozen=True, slots=True)
class CarryPoolRemainder:
    pool_id: str
    to_pool_id: str
    quantity_kg: int


@dataclass(frozen=True, slots=True)
class AllocatePool:
    pool_id: str
    pool_kg: int


@dataclass(frozen=True, slots=True)
class RetireForMeeting:
    pool_id: str
    meeting_id: str


@dataclass(frozen=True, slots=True)
class SignAgreement:
    agreement_id: str
    provider_id: str
    user_id: str
    start_date: date
    term_years: int
    expected_annual_kg: int
    purpose: str


@dataclass(frozen=True, slots=True)
class ProposeDelivery:
    agreement_id: str
    delivery_id: str
    fiscal_year: int
    quantity_kg: int
    deadline_us: int
    batch_id: str | None = None


@dataclass(frozen=True, slots=True)
class ResolveDelivery:
    delivery_id: str
    outcome: str  # accepted, rejected, expired
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ContributionReport:
    contributor: str
    quantity_kg: int


@dataclass(frozen=True, slots=True)
class IssueAggregated:
    project_id: str
    vintage_start: date
    vintage_end: date
    recipient_id: str
    contributions: tuple[ContributionReport, ...]
    origin: Origin | None = None  # schema v6


@dataclass(frozen=True, slots=True)
class AddLabel:
    """The class's label authority labels serials of a batch for the days given."""

    batch_id: str
    serial_start: int
    serial_end: int
    label: str
    valid_from: date
    valid_until: date


@dataclass(frozen=True, slots=True)
class WithdrawLabel:
    batch_id: str
    serial_start: int
    serial_end: int
    label: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReportReversal:
    """An issuer of the project's class, or the operator, reports reversed absorption."""

    project_id: str
    quantity_kg: int
    reason: str


CommandBody = (
    RegisterParty
    | RotateKey
    | RevokeKey
    | RegisterKey
    | RegisterCreditClass
    | RegisterProject
    | IssueCredits
    | TransferCredits
    | RetireCredits
    | CancelCredits
    | OpenPool
    | RegisterMeeting
    | RecordMeetingResult
    | AllocatePool
    | RetireForMeeting
    | SignAgreement
    | ProposeDelivery
    | ResolveDelivery
    | IssueAggregated
    | RegisterFactorTable
    | FundPool
    | ReturnPoolRemainder
    | CarryPoolRemainder
    | SetRecoveryKey
    | RecoverKey
    | StartRecovery
    | VetoRecovery
    | CompleteRecovery
    | RotateRegistryKey
    | AddLabel
    | WithdrawLabel
    | ReportReversal
)

COMMAND_TYPES: tuple[type[CommandBody], ...] = (
    RegisterParty,
    RotateKey,
    RevokeKey,
    RegisterKey,
    RegisterCreditClass,
    RegisterProject,
    IssueCredits,
    TransferCredits,
    RetireCredits,
    CancelCredits,
    OpenPool,
    RegisterMeeting,
    RecordMeetingResult,
    AllocatePool,
    RetireForMeeting,
    SignAgreement,
    ProposeDelivery,
    ResolveDelivery,
    IssueAggregated,
    RegisterFactorTable,
    FundPool,
    ReturnPoolRemainder,
    CarryPoolRemainder,
    SetRecoveryKey,
    RecoverKey,
    StartRecovery,
    VetoRecovery,
    CompleteRecovery,
    RotateRegistryKey,
    AddLabel,
    WithdrawLabel,
    ReportReversal,
)


@dataclass(frozen=True, slots=True)
class Command:
    command_id: str
    actor_id: str
    key_id: str
    created_at_us: int
    expires_at_us: int
    body: CommandBody
