"""Keys lost and found, without a takeover by the operator.

A party keeps a recovery key offline beside its signing key. With it, the party replaces a
lost or stolen signing key itself (RecoverKey). Only a party that lost both may be
recovered by the operator, and only with the co-signature of an auditor (a second,
independent authority: once one auditor exists, a new auditor is registered only with an
existing auditor's co-signature, so the operator cannot appoint its own). Such a recovery
waits RECOVERY_WAIT_US_MIN of decision time in public, the party's credits frozen, and any
active key of the party vetoes it. The operator alone can freeze (revoke) a key, never
install one. Co-signatures are verified by the write side before the rules run; the rules
see only which parties co-signed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from registry.domain import commands as cmd
from registry.domain import events as ev
from registry.domain.checks import CheckCode, Rejection
from registry.domain.ledger import Ledger, key_id_for
from registry.domain.parties import (
    PUBLIC_KEY_LENGTH,
    KeyPurpose,
    KeyRecord,
    KeyStatus,
    Party,
    Role,
    validate_name,
)
from registry.domain.records import Recovery

HOUR_US = 3_600 * 1_000_000
RECOVERY_WAIT_US_MIN = 72 * HOUR_US  # of decision time between start and completion
RECOVERY_ID_LENGTH_MAX = 64
SIGNATURE_LENGTH = 64
# The only commands a recovery key signs: it stays offline, so nothing everyday needs it.
RECOVERY_KEY_COMMANDS = (cmd.SetRecoveryKey, cmd.RecoverKey, cmd.VetoRecovery)


def require_key_purpose(record: KeyRecord, body: cmd.CommandBody) -> None:
    """A recovery key signs recovery commands only; RecoverKey needs the recovery key."""
    if record.purpose is KeyPurpose.RECOVERY and not isinstance(body, RECOVERY_KEY_COMMANDS):
        raise Rejection(
            CheckCode.RECOVERY_KEY_MISUSED, f"{record.key_id} may not sign {type(body).__name__}"
        )
    if record.purpose is KeyPurpose.SIGNING and isinstance(body, cmd.RecoverKey):
        raise Rejection(CheckCode.RECOVERY_KEY_REQUIRED, f"{record.key_id} is a signing key")


def require_not_frozen(ledger: Ledger, party_id: str) -> None:
    """Nothing leaves a party's holdings while a recovery of its keys is pending."""
    pending = ledger.pending_recovery(party_id)
    if pending is not None:
        raise Rejection(
            CheckCode.PARTY_FROZEN,
            f"{party_id}: recovery {pending.recovery_id!r} is pending until {pending.due_at_us} us",
        )


def require_cosigners(
    ledger: Ledger, actor: Party, body: cmd.CommandBody, cosigners: tuple[str, ...]
) -> None:
    """Co-signatures where a command needs them, and nowhere else."""
    needs = _needs_auditor(ledger, body)
    if cosigners and not needs:
        raise Rejection(CheckCode.UNEXPECTED_COSIGNATURE, type(body).__name__)
    if not needs:
        return
    if not cosigners:
        raise Rejection(
            CheckCode.COSIGNATURE_REQUIRED, f"{type(body).__name__} by {actor.party_id}"
        )
    concerned = {actor.party_id, getattr(body, "party_id", actor.party_id)}
    if len(set(cosigners)) != len(cosigners):
        raise Rejection(CheckCode.COSIGNER_NOT_INDEPENDENT, "a co-signer signed twice")
    for cosigner in cosigners:
        if cosigner in concerned:
            raise Rejection(CheckCode.COSIGNER_NOT_INDEPENDENT, repr(cosigner))
        party = ledger.parties.get(cosigner)
        if party is None or party.role is not Role.AUDITOR:
            role = party.role.value if party else "unregistered"
            raise Rejection(CheckCode.COSIGNER_NOT_AUDITOR, f"{cosigner} is {role}")


def _needs_auditor(ledger: Ledger, body: cmd.CommandBody) -> bool:
    if isinstance(body, cmd.StartRecovery):
        return True
    # After the first auditor, auditors join only with an existing auditor's co-signature.
    return (
        isinstance(body, cmd.RegisterParty)
        and body.role == Role.AUDITOR.value
        and any(party.role is Role.AUDITOR for party in ledger.parties.values())
    )


def recovery_key_events(
    ledger: Ledger, party_id: str, public_key: bytes | None, replaced_key_id: str | None = None
) -> list[ev.Event]:
    if public_key is None:
        return []
    return [ev.RecoveryKeySet(party_id, _new_key(ledger, public_key), public_key, replaced_key_id)]


def _new_key(ledger: Ledger, public_key: bytes) -> str:
    if len(public_key) != PUBLIC_KEY_LENGTH:
        raise Rejection(CheckCode.INVALID_PUBLIC_KEY, f"{len(public_key)} bytes")
    key_id = key_id_for(public_key)
    if key_id in ledger.keys or key_id in ledger.registry_keys:
        raise Rejection(CheckCode.KEY_ALREADY_REGISTERED, key_id)
    return key_id


def _require_own(actor: Party, party_id: str, action: str) -> None:
    if actor.party_id != party_id:
        raise Rejection(CheckCode.NOT_THE_OWNER, f"only {party_id} may {action}")


def _recovery_key(ledger: Ledger, party_id: str) -> KeyRecord | None:
    found = ledger.active_keys(party_id, KeyPurpose.RECOVERY)
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class Context:
    """Who acts, with which of its keys, when, and who co-signed (verified already)."""

    actor: Party
    key: KeyRecord
    now_us: int
    cosigners: tuple[str, ...]


# -- one handler per command ----------------------------------------------------------------
def _set_recovery_key(ledger: Ledger, context: Context, body: cmd.SetRecoveryKey) -> list[ev.Event]:
    _require_own(context.actor, body.party_id, "set its recovery key")
    current = _recovery_key(ledger, body.party_id)
    # A thief with the signing key must not lock the party out of its own recovery.
    if current is not None and context.key.key_id != current.key_id:
        raise Rejection(
            CheckCode.RECOVERY_KEY_PROTECTED,
            f"replace {current.key_id} with a command signed by it",
        )
    replaced = current.key_id if current is not None else None
    return recovery_key_events(ledger, body.party_id, body.public_key, replaced)


def _recover_key(ledger: Ledger, context: Context, body: cmd.RecoverKey) -> list[ev.Event]:
    _require_own(context.actor, body.party_id, "recover its keys with its recovery key")
    key_id = _new_key(ledger, body.public_key)
    signing = ledger.active_keys(body.party_id, KeyPurpose.SIGNING)
    effects: list[ev.Event] = []
    pending = ledger.pending_recovery(body.party_id)
    if pending is not None:  # the party has its recovery key: no one else recovers it
        effects.append(ev.RecoveryVetoed(body.party_id, pending.recovery_id, context.key.key_id))
    revoked = tuple(record.key_id for record in signing)
    effects.append(
        ev.KeyRecovered(body.party_id, context.key.key_id, key_id, body.public_key, revoked)
    )
    return effects


def _start_recovery(ledger: Ledger, context: Context, body: cmd.StartRecovery) -> list[ev.Event]:
    if context.actor.role is not Role.OPERATOR:
        raise Rejection(
            CheckCode.ROLE_NOT_ALLOWED, f"{context.actor.role.value} may not start recoveries"
        )
    if body.party_id not in ledger.parties:
        raise Rejection(CheckCode.UNKNOWN_PARTY, repr(body.party_id))
    if body.party_id == context.actor.party_id:
        raise Rejection(CheckCode.ROLE_NOT_ALLOWED, "the operator does not recover itself")
    validate_name("recovery id", body.recovery_id, RECOVERY_ID_LENGTH_MAX)
    validate_name("reason", body.reason)
    pending = ledger.pending_recovery(body.party_id)
    if pending is not None:
        raise Rejection(CheckCode.RECOVERY_PENDING, f"{pending.recovery_id!r} of {body.party_id}")
    if (body.party_id, body.recovery_id) in ledger.recoveries:
        raise Rejection(CheckCode.RECOVERY_CLOSED, f"{body.recovery_id!r} was used before")
    key_id = _new_key(ledger, body.public_key)
    return [
        ev.RecoveryStarted(
            body.party_id,
            body.recovery_id,
            key_id,
            body.public_key,
            body.reason,
            context.actor.party_id,
            tuple(sorted(context.cosigners)),
            context.now_us,
            context.now_us + RECOVERY_WAIT_US_MIN,
        )
    ]


def _open_recovery(ledger: Ledger, party_id: str, recovery_id: str) -> Recovery:
    recovery = ledger.recoveries.get((party_id, recovery_id))
    if recovery is None:
        raise Rejection(CheckCode.UNKNOWN_RECOVERY, f"{recovery_id!r} of {party_id!r}")
    if recovery.outcome is not None:
        raise Rejection(CheckCode.RECOVERY_CLOSED, f"{recovery_id!r}: {recovery.outcome}")
    return recovery


def _veto_recovery(ledger: Ledger, context: Context, body: cmd.VetoRecovery) -> list[ev.Event]:
    _require_own(context.actor, body.party_id, "veto a recovery of its keys")
    _open_recovery(ledger, body.party_id, body.recovery_id)
    return [ev.RecoveryVetoed(body.party_id, body.recovery_id, context.key.key_id)]


def _complete_recovery(
    ledger: Ledger, context: Context, body: cmd.CompleteRecovery
) -> list[ev.Event]:
    recovery = _open_recovery(ledger, body.party_id, body.recovery_id)
    if context.now_us < recovery.due_at_us:
        wait_s = (recovery.due_at_us - context.now_us) // 1_000_000
        raise Rejection(CheckCode.RECOVERY_NOT_DUE, f"{body.recovery_id!r}: {wait_s} s to go")
    revoked = tuple(record.key_id for record in ledger.active_keys(body.party_id))
    return [
        ev.RecoveryCompleted(
            body.party_id, body.recovery_id, recovery.key_id, recovery.public_key, revoked
        )
    ]


def _rotate_registry_key(
    ledger: Ledger, context: Context, body: cmd.RotateRegistryKey
) -> list[ev.Event]:
    """The handover signature itself is checked by the write side and every verifier, which
    know the current registry key; the rules check the rest."""
    if context.actor.role is not Role.OPERATOR:
        raise Rejection(CheckCode.ROLE_NOT_ALLOWED, f"{context.actor.role.value} may not rotate it")
    key_id = _new_key(ledger, body.public_key)
    position = ledger.position + 1
    if body.effective_after_position != position:
        raise Rejection(
            CheckCode.BAD_HANDOVER,
            f"it names position {body.effective_after_position}; it would be recorded at {position}",
        )
    current = ledger.registry_key_id
    if current is not None and body.retired_key_id != current:
        raise Rejection(CheckCode.BAD_HANDOVER, f"the registry key is {current}")
    if len(body.handover_signature) != SIGNATURE_LENGTH:
        raise Rejection(CheckCode.BAD_HANDOVER, f"{len(body.handover_signature)}-byte signature")
    return [
        ev.RegistryKeyRotated(
            body.retired_key_id, key_id, body.public_key, position, body.handover_signature
        )
    ]


Handler = Callable[[Ledger, Context, Any], list[ev.Event]]
HANDLERS: dict[type[Any], Handler] = {
    cmd.SetRecoveryKey: _set_recovery_key,
    cmd.RecoverKey: _recover_key,
    cmd.StartRecovery: _start_recovery,
    cmd.VetoRecovery: _veto_recovery,
    cmd.CompleteRecovery: _complete_recovery,
    cmd.RotateRegistryKey: _rotate_registry_key,
}


def decide(
    ledger: Ledger, actor: Party, command: cmd.Command, now_us: int, cosigners: tuple[str, ...]
) -> list[ev.Event]:
    key = ledger.keys.get(command.key_id)
    if key is None or key.status is not KeyStatus.ACTIVE:  # authentication came first
        raise Rejection(CheckCode.UNKNOWN_KEY, f"{command.key_id!r} is not active")
    context = Context(actor, key, now_us, cosigners)
    return HANDLERS[type(command.body)](ledger, context, command.body)
