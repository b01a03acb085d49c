"""Check codes to gRPC status codes, and the structured detail every rejection carries."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from registry.domain.checks import CheckCode

ERROR_DOMAIN = "credit-registry"
# Rejection messages quote the offending value, which a client may make megabytes long. The
# message travels in trailing metadata three times (grpc-message, percent-encoded, and twice
# inside grpc-status-details-bin); past the peer's 8 KiB metadata limit the client would see
# RESOURCE_EXHAUSTED instead of the check code. 200 characters stay well under it,
# even when every one is a four-byte character.
MESSAGE_CHARS_MAX = 200

_STATUS: dict[CheckCode, grpc.StatusCode] = {
    CheckCode.UNKNOWN_PARTY: grpc.StatusCode.NOT_FOUND,
    CheckCode.UNKNOWN_KEY: grpc.StatusCode.UNAUTHENTICATED,
    CheckCode.KEY_REVOKED: grpc.StatusCode.UNAUTHENTICATED,
    CheckCode.KEY_ROTATED: grpc.StatusCode.UNAUTHENTICATED,
    CheckCode.BAD_SIGNATURE: grpc.StatusCode.UNAUTHENTICATED,
    CheckCode.ACTOR_MISMATCH: grpc.StatusCode.UNAUTHENTICATED,
    CheckCode.KEY_ALREADY_REGISTERED: grpc.StatusCode.ALREADY_EXISTS,
    CheckCode.PARTY_HAS_ACTIVE_KEY: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.ROLE_NOT_ALLOWED: grpc.StatusCode.PERMISSION_DENIED,
    CheckCode.NOT_THE_OWNER: grpc.StatusCode.PERMISSION_DENIED,
    CheckCode.ISSUER_NOT_AUTHORISED: grpc.StatusCode.PERMISSION_DENIED,
    CheckCode.INSUFFICIENT_HOLDINGS: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.UNKNOWN_BATCH: grpc.StatusCode.NOT_FOUND,
    CheckCode.UNKNOWN_CLASS: grpc.StatusCode.NOT_FOUND,
    CheckCode.UNKNOWN_PROJECT: grpc.StatusCode.NOT_FOUND,
    CheckCode.PARTY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    CheckCode.CLASS_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    CheckCode.PROJECT_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    CheckCode.NOT_GENESIS: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.DUPLICATE_COMMAND_ID: grpc.StatusCode.ALREADY_EXISTS,
    CheckCode.CONFLICT: grpc.StatusCode.ABORTED,
    # Not a verdict on the command: this replica cannot decide now; send the same bytes again
    # (to another replica, or later).
    CheckCode.CLOCK_BEHIND: grpc.StatusCode.UNAVAILABLE,
    CheckCode.INTERNAL_ERROR: grpc.StatusCode.INTERNAL,
    CheckCode.NOT_A_MEMBER: grpc.StatusCode.PERMISSION_DENIED,
    CheckCode.UNKNOWN_POOL: grpc.StatusCode.NOT_FOUND,
    CheckCode.UNKNOWN_MEETING: grpc.StatusCode.NOT_FOUND,
    CheckCode.UNKNOWN_AGREEMENT: grpc.StatusCode.NOT_FOUND,
    CheckCode.UNKNOWN_DELIVERY: grpc.StatusCode.NOT_FOUND,
    CheckCode.POOL_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    CheckCode.MEETING_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    CheckCode.DELIVERY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    CheckCode.ALREADY_SIGNED: grpc.StatusCode.ALREADY_EXISTS,
    CheckCode.POOL_STATE: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.ALREADY_RETIRED: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.AGREEMENT_TERMS_DIFFER: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.AGREEMENT_NOT_IN_FORCE: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.DELIVERY_RESOLVED: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.DELIVERY_EXPIRED: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.DELIVERY_NOT_DUE: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.POOL_UNDERFUNDED: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.OUTSIDE_FISCAL_YEAR: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.CALCULATION_DIFFERS: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.FACTOR_TABLE_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    CheckCode.UNKNOWN_FACTOR_TABLE: grpc.StatusCode.NOT_FOUND,
    CheckCode.MISSING_FACTOR: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.OUTSIDE_AGREEMENT_TERM: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.NOT_A_FUNDER: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.INVALID_CARRY: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.BAD_COSIGNATURE: grpc.StatusCode.UNAUTHENTICATED,
    CheckCode.RECOVERY_KEY_MISUSED: grpc.StatusCode.PERMISSION_DENIED,
    CheckCode.RECOVERY_KEY_REQUIRED: grpc.StatusCode.PERMISSION_DENIED,
    CheckCode.PARTY_FROZEN: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.RECOVERY_PENDING: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.UNKNOWN_RECOVERY: grpc.StatusCode.NOT_FOUND,
    CheckCode.RECOVERY_NOT_DUE: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.RECOVERY_CLOSED: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.RECOVERY_KEY_PROTECTED: grpc.StatusCode.PERMISSION_DENIED,
    CheckCode.BAD_HANDOVER: grpc.StatusCode.UNAUTHENTICATED,
    # Another replica (restarted with the new key file) can take the call: retry there.
    CheckCode.REGISTRY_KEY_NOT_CURRENT: grpc.StatusCode.UNAVAILABLE,
    CheckCode.OPERATOR_CANNOT_INSTALL_KEYS: grpc.StatusCode.PERMISSION_DENIED,
    CheckCode.COSIGNATURE_REQUIRED: grpc.StatusCode.PERMISSION_DENIED,
    CheckCode.COSIGNER_NOT_AUDITOR: grpc.StatusCode.PERMISSION_DENIED,
    CheckCode.COSIGNER_NOT_INDEPENDENT: grpc.StatusCode.PERMISSION_DENIED,
    CheckCode.UNEXPECTED_COSIGNATURE: grpc.StatusCode.INVALID_ARGUMENT,
    CheckCode.ORIGIN_ALREADY_ISSUED: grpc.StatusCode.ALREADY_EXISTS,
    CheckCode.NOT_THE_LABEL_AUTHORITY: grpc.StatusCode.PERMISSION_DENIED,
    CheckCode.LABEL_OVERLAP: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.LABEL_NOT_PRESENT: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.LABEL_REQUIRED: grpc.StatusCode.FAILED_PRECONDITION,
    CheckCode.TOO_MANY_LABELS: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def status_code_for(code: CheckCode) -> grpc.StatusCode:
    # Every 1xxx check is about the request itself.
    return _STATUS.get(code, grpc.StatusCode.INVALID_ARGUMENT)


def bounded(message: str) -> str:
    if len(message) <= MESSAGE_CHARS_MAX:
        return message
    return f"{message[:MESSAGE_CHARS_MAX]}… ({len(message)} characters in all)"


def rich_status(code: CheckCode, message: str) -> grpc.Status:
    status_code = status_code_for(code)
    message = bounded(message)
    info = error_details_pb2.ErrorInfo(
        reason=code.name,
        domain=ERROR_DOMAIN,
        metadata={"number": str(code.number), "message": message},
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(
        code=getattr(code_pb2, status_code.name),
        message=f"{code.name}: {message}",
        details=[detail],
    )
    return rpc_status.to_status(status)


def check_code_of(error: grpc.RpcError) -> tuple[CheckCode | None, str]:
    """The check code and message inside a rejection, for clients."""
    status = rpc_status.from_call(error)
    if status is None:
        return None, str(error)
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.domain == ERROR_DOMAIN:
            return CheckCode[info.reason], info.metadata.get("message", "")
    return None, status.message
