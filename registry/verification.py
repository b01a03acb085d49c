"""Replay and verify a history from nothing but the registry's public keys and the envelopes.

For each envelope, in order: the registry countersignature, the position and the hash chain;
the actor's signature under the key active at that point; and the rules, by deciding the
command again at its recorded time and comparing with the recorded effects. This is the
function the audit builds on; the write side and the demo use it too."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from registry.codec import Codec
from registry.domain import rules
from registry.domain.checks import Rejection
from registry.domain.ledger import Ledger, invariant_violations
from registry.envelope import EnvelopeError, OpenedEnvelope, verify_actor_signature, verify_sealed


@dataclass
class Discrepancy:
    position: int
    reason: str


@dataclass
class VerificationReport:
    envelopes: int = 0
    discrepancies: list[Discrepancy] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)

    @property
    def clean(self) -> bool:
        return not self.discrepancies


def verify_history(
    envelopes: Iterable[OpenedEnvelope],
    registry_public_keys: Mapping[str, bytes],
    codec: Codec | None = None,
    max_discrepancies: int = 100,
) -> VerificationReport:
    """Stops at the first envelope that cannot be trusted: what follows it is unanchored."""
    codec = codec or Codec()
    report = VerificationReport()
    ledger = report.ledger
    for envelope in envelopes:
        report.envelopes += 1
        position = envelope.body.position
        try:
            _verify_one(codec, ledger, envelope, registry_public_keys)
        except EnvelopeError as error:
            report.discrepancies.append(Discrepancy(error.position or position, error.reason))
            break
        if len(report.discrepancies) >= max_discrepancies:
            break
    else:
        report.discrepancies.extend(
            Discrepancy(ledger.position, p) for p in invariant_violations(ledger)
        )
    return report


def _verify_one(
    codec: Codec,
    ledger: Ledger,
    envelope: OpenedEnvelope,
    registry_public_keys: Mapping[str, bytes],
) -> None:
    body = envelope.body
    position = body.position
    verify_sealed(envelope, registry_public_keys, ledger.position + 1, ledger.head_hash)
    try:
        command = codec.decode_command(body.command.command_bytes)
        recorded = [codec.decode_event(effect) for effect in body.effects]
    except Rejection as rejection:
        raise EnvelopeError(f"undecodable content: {rejection.detail}", position) from None
    if (command.actor_id, command.key_id) != (body.command.actor_id, body.command.key_id):
        raise EnvelopeError("signed actor differs from the command's actor", position)
    if command.command_id in ledger.commands:
        raise EnvelopeError(f"command id {command.command_id!r} recorded twice", position)
    try:
        public_key = rules.verifying_key(ledger, command)
    except Rejection as rejection:
        raise EnvelopeError(f"actor key not valid here: {rejection.message}", position) from None
    if not verify_actor_signature(body.command, public_key):
        raise EnvelopeError(f"actor signature of {command.actor_id} does not verify", position)
    try:
        decided = rules.decide(ledger, command, body.recorded_at_us)
    except Rejection as rejection:
        raise EnvelopeError(f"a rule rejects this command: {rejection.message}", position) from None
    if decided != recorded:
        raise EnvelopeError("recorded effects differ from the effects the rules give", position)
    for event in decided:
        ledger.apply(event, position)
    ledger.record_command(
        command.command_id, position, hashlib.sha256(body.command.command_bytes).digest()
    )
    ledger.advance(position, envelope.hash)
