from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Cosignature(_message.Message):
    __slots__ = ("party_id", "key_id", "signature")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    key_id: str
    signature: bytes
    def __init__(self, party_id: _Optional[str] = ..., key_id: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class SignedCommand(_message.Message):
    __slots__ = ("actor_id", "key_id", "command_bytes", "signature", "cosignatures")
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_BYTES_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    COSIGNATURES_FIELD_NUMBER: _ClassVar[int]
    actor_id: str
    key_id: str
    command_bytes: bytes
    signature: bytes
    cosignatures: _containers.RepeatedCompositeFieldContainer[Cosignature]
    def __init__(self, actor_id: _Optional[str] = ..., key_id: _Optional[str] = ..., command_bytes: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., cosignatures: _Optional[_Iterable[_Union[Cosignature, _Mapping]]] = ...) -> None: ...

class CommandRequest(_message.Message):
    __slots__ = ("command",)
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    command: SignedCommand
    def __init__(self, command: _Optional[_Union[SignedCommand, _Mapping]] = ...) -> None: ...

class CommandResult(_message.Message):
    __slots__ = ("command_id", "accepted", "position", "check_code", "check_number", "message", "replayed")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    CHECK_CODE_FIELD_NUMBER: _ClassVar[int]
    CHECK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    accepted: bool
    position: int
    check_code: str
    check_number: int
    message: str
    replayed: bool
    def __init__(self, command_id: _Optional[str] = ..., accepted: _Optional[bool] = ..., position: _Optional[int] = ..., check_code: _Optional[str] = ..., check_number: _Optional[int] = ..., message: _Optional[str] = ..., replayed: _Optional[bool] = ...) -> None: ...

class CommandResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: CommandResult
    def __init__(self, result: _Optional[_Union[CommandResult, _Mapping]] = ...) -> None: ...

class CommandBatchRequest(_message.Message):
    __slots__ = ("commands",)
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    commands: _containers.RepeatedCompositeFieldContainer[SignedCommand]
    def __init__(self, commands: _Optional[_Iterable[_Union[SignedCommand, _Mapping]]] = ...) -> None: ...

class CommandBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[CommandResult]
    def __init__(self, results: _Optional[_Iterable[_Union[CommandResult, _Mapping]]] = ...) -> None: ...

class BalanceRequest(_message.Message):
    __slots__ = ("party_id", "min_position")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_POSITION_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    min_position: int
    def __init__(self, party_id: _Optional[str] = ..., min_position: _Optional[int] = ...) -> None: ...

class BalanceLine(_message.Message):
    __slots__ = ("class_id", "vintage", "tradable_kg", "pending_kg", "retired_kg")
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    VINTAGE_FIELD_NUMBER: _ClassVar[int]
    TRADABLE_KG_FIELD_NUMBER: _ClassVar[int]
    PENDING_KG_FIELD_NUMBER: _ClassVar[int]
    RETIRED_KG_FIELD_NUMBER: _ClassVar[int]
    class_id: str
    vintage: str
    tradable_kg: int
    pending_kg: int
    retired_kg: int
    def __init__(self, class_id: _Optional[str] = ..., vintage: _Optional[str] = ..., tradable_kg: _Optional[int] = ..., pending_kg: _Optional[int] = ..., retired_kg: _Optional[int] = ...) -> None: ...

class BalanceResponse(_message.Message):
    __slots__ = ("party_id", "lines", "tradable_kg", "pending_kg", "retired_kg", "as_of_position", "pending_recovery")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TRADABLE_KG_FIELD_NUMBER: _ClassVar[int]
    PENDING_KG_FIELD_NUMBER: _ClassVar[int]
    RETIRED_KG_FIELD_NUMBER: _ClassVar[int]
    AS_OF_POSITION_FIELD_NUMBER: _ClassVar[int]
    PENDING_RECOVERY_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    lines: _containers.RepeatedCompositeFieldContainer[BalanceLine]
    tradable_kg: int
    pending_kg: int
    retired_kg: int
    as_of_position: int
    pending_recovery: Recovery
    def __init__(self, party_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[BalanceLine, _Mapping]]] = ..., tradable_kg: _Optional[int] = ..., pending_kg: _Optional[int] = ..., retired_kg: _Optional[int] = ..., as_of_position: _Optional[int] = ..., pending_recovery: _Optional[_Union[Recovery, _Mapping]] = ...) -> None: ...

class Recovery(_message.Message):
    __slots__ = ("party_id", "recovery_id", "status", "key_id", "reason", "started_by", "cosigned_by", "started_at_us", "due_at_us", "started_position")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    RECOVERY_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STARTED_BY_FIELD_NUMBER: _ClassVar[int]
    COSIGNED_BY_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_US_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_US_FIELD_NUMBER: _ClassVar[int]
    STARTED_POSITION_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    recovery_id: str
    status: str
    key_id: str
    reason: str
    started_by: str
    cosigned_by: _containers.RepeatedScalarFieldContainer[str]
    started_at_us: int
    due_at_us: int
    started_position: int
    def __init__(self, party_id: _Optional[str] = ..., recovery_id: _Optional[str] = ..., status: _Optional[str] = ..., key_id: _Optional[str] = ..., reason: _Optional[str] = ..., started_by: _Optional[str] = ..., cosigned_by: _Optional[_Iterable[str]] = ..., started_at_us: _Optional[int] = ..., due_at_us: _Optional[int] = ..., started_position: _Optional[int] = ...) -> None: ...

class RecoveriesRequest(_message.Message):
    __slots__ = ("party_id", "pending_only", "min_position")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    PENDING_ONLY_FIELD_NUMBER: _ClassVar[int]
    MIN_POSITION_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    pending_only: bool
    min_position: int
    def __init__(self, party_id: _Optional[str] = ..., pending_only: _Optional[bool] = ..., min_position: _Optional[int] = ...) -> None: ...

class RecoveriesResponse(_message.Message):
    __slots__ = ("recoveries",)
    RECOVERIES_FIELD_NUMBER: _ClassVar[int]
    recoveries: _containers.RepeatedCompositeFieldContainer[Recovery]
    def __init__(self, recoveries: _Optional[_Iterable[_Union[Recovery, _Mapping]]] = ...) -> None: ...

class HoldingsRequest(_message.Message):
    __slots__ = ("party_id", "status", "limit", "min_position", "page_size", "page_token")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MIN_POSITION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    status: str
    limit: int
    min_position: int
    page_size: int
    page_token: str
    def __init__(self, party_id: _Optional[str] = ..., status: _Optional[str] = ..., limit: _Optional[int] = ..., min_position: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SerialBlock(_message.Message):
    __slots__ = ("batch_id", "serial_start", "serial_end", "labels")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    SERIAL_START_FIELD_NUMBER: _ClassVar[int]
    SERIAL_END_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    serial_start: int
    serial_end: int
    labels: _containers.RepeatedCompositeFieldContainer[SerialLabel]
    def __init__(self, batch_id: _Optional[str] = ..., serial_start: _Optional[int] = ..., serial_end: _Optional[int] = ..., labels: _Optional[_Iterable[_Union[SerialLabel, _Mapping]]] = ...) -> None: ...

class SerialLabel(_message.Message):
    __slots__ = ("batch_id", "label", "serial_start", "serial_end", "valid_from", "valid_until")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SERIAL_START_FIELD_NUMBER: _ClassVar[int]
    SERIAL_END_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    label: str
    serial_start: int
    serial_end: int
    valid_from: str
    valid_until: str
    def __init__(self, batch_id: _Optional[str] = ..., label: _Optional[str] = ..., serial_start: _Optional[int] = ..., serial_end: _Optional[int] = ..., valid_from: _Optional[str] = ..., valid_until: _Optional[str] = ...) -> None: ...

class Origin(_message.Message):
    __slots__ = ("registry_id", "project_id", "serial_start", "serial_end")
    REGISTRY_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SERIAL_START_FIELD_NUMBER: _ClassVar[int]
    SERIAL_END_FIELD_NUMBER: _ClassVar[int]
    registry_id: str
    project_id: str
    serial_start: int
    serial_end: int
    def __init__(self, registry_id: _Optional[str] = ..., project_id: _Optional[str] = ..., serial_start: _Optional[int] = ..., serial_end: _Optional[int] = ...) -> None: ...

class HoldingsResponse(_message.Message):
    __slots__ = ("blocks", "next_page_token")
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    blocks: _containers.RepeatedCompositeFieldContainer[SerialBlock]
    next_page_token: str
    def __init__(self, blocks: _Optional[_Iterable[_Union[SerialBlock, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class BatchRequest(_message.Message):
    __slots__ = ("batch_id", "min_position")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_POSITION_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    min_position: int
    def __init__(self, batch_id: _Optional[str] = ..., min_position: _Optional[int] = ...) -> None: ...

class BatchResponse(_message.Message):
    __slots__ = ("batch_id", "class_id", "project_id", "vintage", "issuer_id", "issued_kg", "tradable_kg", "pending_kg", "retired_kg", "cancelled_kg", "origin", "labels", "buffer_held_kg")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CLASS_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    VINTAGE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUED_KG_FIELD_NUMBER: _ClassVar[int]
    TRADABLE_KG_FIELD_NUMBER: _ClassVar[int]
    PENDING_KG_FIELD_NUMBER: _ClassVar[int]
    RETIRED_KG_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_KG_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    BUFFER_HELD_KG_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    class_id: str
    project_id: str
    vintage: str
    issuer_id: str
    issued_kg: int
    tradable_kg: int
    pending_kg: int
    retired_kg: int
    cancelled_kg: int
    origin: Origin
    labels: _containers.RepeatedCompositeFieldContainer[SerialLabel]
    buffer_held_kg: int
    def __init__(self, batch_id: _Optional[str] = ..., class_id: _Optional[str] = ..., project_id: _Optional[str] = ..., vintage: _Optional[str] = ..., issuer_id: _Optional[str] = ..., issued_kg: _Optional[int] = ..., tradable_kg: _Optional[int] = ..., pending_kg: _Optional[int] = ..., retired_kg: _Optional[int] = ..., cancelled_kg: _Optional[int] = ..., origin: _Optional[_Union[Origin, _Mapping]] = ..., labels: _Optional[_Iterable[_Union[SerialLabel, _Mapping]]] = ..., buffer_held_kg: _Optional[int] = ...) -> None: ...

class RetirementsRequest(_message.Message):
    __slots__ = ("holder_id", "beneficiary_party_id", "after_position", "limit", "min_position", "location")
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    BENEFICIARY_PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_POSITION_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MIN_POSITION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    holder_id: str
    beneficiary_party_id: str
    after_position: int
    limit: int
    min_position: int
    location: str
    def __init__(self, holder_id: _Optional[str] = ..., beneficiary_party_id: _Optional[str] = ..., after_position: _Optional[int] = ..., limit: _Optional[int] = ..., min_position: _Optional[int] = ..., location: _Optional[str] = ...) -> None: ...

class Retirement(_message.Message):
    __slots__ = ("position", "holder_id", "quantity_kg", "blocks", "beneficiary_name", "beneficiary_party_id", "purpose", "reporting_year", "memo", "location", "required_label", "labels")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    HOLDER_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_KG_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    BENEFICIARY_NAME_FIELD_NUMBER: _ClassVar[int]
    BENEFICIARY_PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    REPORTING_YEAR_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_LABEL_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    position: int
    holder_id: str
    quantity_kg: int
    blocks: str
    beneficiary_name: str
    beneficiary_party_id: str
    purpose: str
    reporting_year: int
    memo: str
    location: str
    required_label: str
    labels: _containers.RepeatedCompositeFieldContainer[SerialLabel]
    def __init__(self, position: _Optional[int] = ..., holder_id: _Optional[str] = ..., quantity_kg: _Optional[int] = ..., blocks: _Optional[str] = ..., beneficiary_name: _Optional[str] = ..., beneficiary_party_id: _Optional[str] = ..., purpose: _Optional[str] = ..., reporting_year: _Optional[int] = ..., memo: _Optional[str] = ..., location: _Optional[str] = ..., required_label: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[SerialLabel, _Mapping]]] = ...) -> None: ...

class RetirementsResponse(_message.Message):
    __slots__ = ("retirements",)
    RETIREMENTS_FIELD_NUMBER: _ClassVar[int]
    retirements: _containers.RepeatedCompositeFieldContainer[Retirement]
    def __init__(self, retirements: _Optional[_Iterable[_Union[Retirement, _Mapping]]] = ...) -> None: ...

class AllocationRequest(_message.Message):
    __slots__ = ("min_position", "pool_id")
    MIN_POSITION_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    min_position: int
    pool_id: str
    def __init__(self, min_position: _Optional[int] = ..., pool_id: _Optional[str] = ...) -> None: ...

class AllocationRow(_message.Message):
    __slots__ = ("member_code", "name_ja", "name_en", "kind", "events_offset", "allocated_kg", "offset_kg", "estimate_kg", "calculated_kg")
    MEMBER_CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_JA_FIELD_NUMBER: _ClassVar[int]
    NAME_EN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    EVENTS_OFFSET_FIELD_NUMBER: _ClassVar[int]
    ALLOCATED_KG_FIELD_NUMBER: _ClassVar[int]
    OFFSET_KG_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_KG_FIELD_NUMBER: _ClassVar[int]
    CALCULATED_KG_FIELD_NUMBER: _ClassVar[int]
    member_code: str
    name_ja: str
    name_en: str
    kind: str
    events_offset: int
    allocated_kg: int
    offset_kg: int
    estimate_kg: int
    calculated_kg: int
    def __init__(self, member_code: _Optional[str] = ..., name_ja: _Optional[str] = ..., name_en: _Optional[str] = ..., kind: _Optional[str] = ..., events_offset: _Optional[int] = ..., allocated_kg: _Optional[int] = ..., offset_kg: _Optional[int] = ..., estimate_kg: _Optional[int] = ..., calculated_kg: _Optional[int] = ...) -> None: ...

class AllocationTotal(_message.Message):
    __slots__ = ("label", "members", "participating", "events_offset", "allocated_kg", "offset_kg", "estimate_kg", "calculated_kg")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    PARTICIPATING_FIELD_NUMBER: _ClassVar[int]
    EVENTS_OFFSET_FIELD_NUMBER: _ClassVar[int]
    ALLOCATED_KG_FIELD_NUMBER: _ClassVar[int]
    OFFSET_KG_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_KG_FIELD_NUMBER: _ClassVar[int]
    CALCULATED_KG_FIELD_NUMBER: _ClassVar[int]
    label: str
    members: int
    participating: int
    events_offset: int
    allocated_kg: int
    offset_kg: int
    estimate_kg: int
    calculated_kg: int
    def __init__(self, label: _Optional[str] = ..., members: _Optional[int] = ..., participating: _Optional[int] = ..., events_offset: _Optional[int] = ..., allocated_kg: _Optional[int] = ..., offset_kg: _Optional[int] = ..., estimate_kg: _Optional[int] = ..., calculated_kg: _Optional[int] = ...) -> None: ...

class AllocationMeeting(_message.Message):
    __slots__ = ("meeting_id", "organiser_id", "name", "estimate_kg", "calculated_kg", "allocated_kg", "retired_kg", "registered_position")
    MEETING_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANISER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_KG_FIELD_NUMBER: _ClassVar[int]
    CALCULATED_KG_FIELD_NUMBER: _ClassVar[int]
    ALLOCATED_KG_FIELD_NUMBER: _ClassVar[int]
    RETIRED_KG_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_POSITION_FIELD_NUMBER: _ClassVar[int]
    meeting_id: str
    organiser_id: str
    name: str
    estimate_kg: int
    calculated_kg: int
    allocated_kg: int
    retired_kg: int
    registered_position: int
    def __init__(self, meeting_id: _Optional[str] = ..., organiser_id: _Optional[str] = ..., name: _Optional[str] = ..., estimate_kg: _Optional[int] = ..., calculated_kg: _Optional[int] = ..., allocated_kg: _Optional[int] = ..., retired_kg: _Optional[int] = ..., registered_position: _Optional[int] = ...) -> None: ...

class PoolSummary(_message.Message):
    __slots__ = ("pool_id", "name", "fiscal_year", "allocated_kg", "funded_kg", "carried_in_kg", "returned_kg", "carried_out_kg", "held_kg", "retired_kg")
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FISCAL_YEAR_FIELD_NUMBER: _ClassVar[int]
    ALLOCATED_KG_FIELD_NUMBER: _ClassVar[int]
    FUNDED_KG_FIELD_NUMBER: _ClassVar[int]
    CARRIED_IN_KG_FIELD_NUMBER: _ClassVar[int]
    RETURNED_KG_FIELD_NUMBER: _ClassVar[int]
    CARRIED_OUT_KG_FIELD_NUMBER: _ClassVar[int]
    HELD_KG_FIELD_NUMBER: _ClassVar[int]
    RETIRED_KG_FIELD_NUMBER: _ClassVar[int]
    pool_id: str
    name: str
    fiscal_year: int
    allocated_kg: int
    funded_kg: int
    carried_in_kg: int
    returned_kg: int
    carried_out_kg: int
    held_kg: int
    retired_kg: int
    def __init__(self, pool_id: _Optional[str] = ..., name: _Optional[str] = ..., fiscal_year: _Optional[int] = ..., allocated_kg: _Optional[int] = ..., funded_kg: _Optional[int] = ..., carried_in_kg: _Optional[int] = ..., returned_kg: _Optional[int] = ..., carried_out_kg: _Optional[int] = ..., held_kg: _Optional[int] = ..., retired_kg: _Optional[int] = ...) -> None: ...

class AllocationResponse(_message.Message):
    __slots__ = ("rows", "totals", "meetings", "pool")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    MEETINGS_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[AllocationRow]
    totals: _containers.RepeatedCompositeFieldContainer[AllocationTotal]
    meetings: _containers.RepeatedCompositeFieldContainer[AllocationMeeting]
    pool: PoolSummary
    def __init__(self, rows: _Optional[_Iterable[_Union[AllocationRow, _Mapping]]] = ..., totals: _Optional[_Iterable[_Union[AllocationTotal, _Mapping]]] = ..., meetings: _Optional[_Iterable[_Union[AllocationMeeting, _Mapping]]] = ..., pool: _Optional[_Union[PoolSummary, _Mapping]] = ...) -> None: ...

class StreamEventsRequest(_message.Message):
    __slots__ = ("after_position", "follow")
    AFTER_POSITION_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    after_position: int
    follow: bool
    def __init__(self, after_position: _Optional[int] = ..., follow: _Optional[bool] = ...) -> None: ...

class EnvelopeRecord(_message.Message):
    __slots__ = ("position", "sealed_envelope", "event_types")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    SEALED_ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    position: int
    sealed_envelope: bytes
    event_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, position: _Optional[int] = ..., sealed_envelope: _Optional[bytes] = ..., event_types: _Optional[_Iterable[str]] = ...) -> None: ...

class WatchAgreementRequest(_message.Message):
    __slots__ = ("agreement_id", "after_position", "follow")
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_POSITION_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    agreement_id: str
    after_position: int
    follow: bool
    def __init__(self, agreement_id: _Optional[str] = ..., after_position: _Optional[int] = ..., follow: _Optional[bool] = ...) -> None: ...

class StatementRequest(_message.Message):
    __slots__ = ("agreement_id", "fiscal_year", "min_position")
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FISCAL_YEAR_FIELD_NUMBER: _ClassVar[int]
    MIN_POSITION_FIELD_NUMBER: _ClassVar[int]
    agreement_id: str
    fiscal_year: int
    min_position: int
    def __init__(self, agreement_id: _Optional[str] = ..., fiscal_year: _Optional[int] = ..., min_position: _Optional[int] = ...) -> None: ...

class StatementResponse(_message.Message):
    __slots__ = ("agreement_id", "fiscal_year", "provider_id", "user_id", "expected_annual_kg", "in_force", "delivered_kg", "accepted_kg", "rejected_kg", "expired_kg", "pending_kg", "retired_by_user_kg", "in_term", "expected_kg", "difference_kg")
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FISCAL_YEAR_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_ANNUAL_KG_FIELD_NUMBER: _ClassVar[int]
    IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_KG_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_KG_FIELD_NUMBER: _ClassVar[int]
    REJECTED_KG_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_KG_FIELD_NUMBER: _ClassVar[int]
    PENDING_KG_FIELD_NUMBER: _ClassVar[int]
    RETIRED_BY_USER_KG_FIELD_NUMBER: _ClassVar[int]
    IN_TERM_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_KG_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCE_KG_FIELD_NUMBER: _ClassVar[int]
    agreement_id: str
    fiscal_year: int
    provider_id: str
    user_id: str
    expected_annual_kg: int
    in_force: bool
    delivered_kg: int
    accepted_kg: int
    rejected_kg: int
    expired_kg: int
    pending_kg: int
    retired_by_user_kg: int
    in_term: bool
    expected_kg: int
    difference_kg: int
    def __init__(self, agreement_id: _Optional[str] = ..., fiscal_year: _Optional[int] = ..., provider_id: _Optional[str] = ..., user_id: _Optional[str] = ..., expected_annual_kg: _Optional[int] = ..., in_force: _Optional[bool] = ..., delivered_kg: _Optional[int] = ..., accepted_kg: _Optional[int] = ..., rejected_kg: _Optional[int] = ..., expired_kg: _Optional[int] = ..., pending_kg: _Optional[int] = ..., retired_by_user_kg: _Optional[int] = ..., in_term: _Optional[bool] = ..., expected_kg: _Optional[int] = ..., difference_kg: _Optional[int] = ...) -> None: ...

class DeliveriesRequest(_message.Message):
    __slots__ = ("party_id", "agreement_id", "due_only", "after_position", "limit", "min_position")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DUE_ONLY_FIELD_NUMBER: _ClassVar[int]
    AFTER_POSITION_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    MIN_POSITION_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    agreement_id: str
    due_only: bool
    after_position: int
    limit: int
    min_position: int
    def __init__(self, party_id: _Optional[str] = ..., agreement_id: _Optional[str] = ..., due_only: _Optional[bool] = ..., after_position: _Optional[int] = ..., limit: _Optional[int] = ..., min_position: _Optional[int] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("delivery_id", "agreement_id", "provider_id", "user_id", "fiscal_year", "quantity_kg", "deadline_us", "proposed_position", "outcome", "resolved_position")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FISCAL_YEAR_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_KG_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_US_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_POSITION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_POSITION_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    agreement_id: str
    provider_id: str
    user_id: str
    fiscal_year: int
    quantity_kg: int
    deadline_us: int
    proposed_position: int
    outcome: str
    resolved_position: int
    def __init__(self, delivery_id: _Optional[str] = ..., agreement_id: _Optional[str] = ..., provider_id: _Optional[str] = ..., user_id: _Optional[str] = ..., fiscal_year: _Optional[int] = ..., quantity_kg: _Optional[int] = ..., deadline_us: _Optional[int] = ..., proposed_position: _Optional[int] = ..., outcome: _Optional[str] = ..., resolved_position: _Optional[int] = ...) -> None: ...

class DeliveriesResponse(_message.Message):
    __slots__ = ("deliveries", "server_time_us")
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_US_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[Delivery]
    server_time_us: int
    def __init__(self, deliveries: _Optional[_Iterable[_Union[Delivery, _Mapping]]] = ..., server_time_us: _Optional[int] = ...) -> None: ...
