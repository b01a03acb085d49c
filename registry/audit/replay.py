"""Replay and verify a history from nothing but the registry's public keys and the envelopes.

For each envelope, in order: the registry countersignature, the position and the hash chain;
the actor's signature under the key active at that point; and the rules, by deciding the
command again at its recorded time and comparing with the recorded effects. The write side,
the demo and the audit all use this. The audit defers the two signature checks to worker
processes (`SignatureWork`); everything else must run in order."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from registry.domain import events as ev
from registry.domain import rules
from registry.domain.checks import Rejection
from registry.domain.invariants import invariant_violations
from registry.domain.ledger import Ledger
from registry.envelope.codec import Codec
from registry.envelope.keys import verify
from registry.envelope.sealing import (
    EnvelopeError,
    OpenedEnvelope,
    check_place,
    verify_actor_signature,
    verify_sealed,
)


@dataclass
class Discrepancy:
    position: int
    reason: str
    event: str = ""  # the event types of the envelope, when it could be read


@dataclass(frozen=True, slots=True)
class SignatureWork:
    """Both signatures of one envelope, with the keys the history says must verify them."""

    position: int
    event: str
    registry_public_key: bytes
    body_bytes: bytes
    registry_signature: bytes
    actor_public_key: bytes
    command_bytes: bytes
    actor_signature: bytes

    def failure(self) -> str | None:
        if not verify(self.registry_public_key, self.registry_signature, self.body_bytes):
            return "registry countersignature does not verify"
        if not verify(self.actor_public_key, self.actor_signature, self.command_bytes):
            return "actor signature does not verify under the key active at this position"
        return None


@dataclass
class VerificationReport:
    envelopes: int = 0
    discrepancies: list[Discrepancy] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)

    @property
    def clean(self) -> bool:
        return not self.discrepancies


class Replayer:
    def __init__(
        self, registry_public_keys: Mapping[str, bytes], codec: Codec | None = None
    ) -> None:
        self.registry_public_keys = registry_public_keys
        self.codec = codec or Codec()
        self.ledger = Ledger()
        self.latest_time_us = 0

    def step(
        self, envelope: OpenedEnvelope, check_signatures: bool = True
    ) -> tuple[list[ev.Event], SignatureWork]:
        """Check and apply one envelope; raises EnvelopeError naming the position and reason.
        Returns its events and the signature work (already done when check_signatures)."""
        ledger = self.ledger
        body = envelope.body
        position = body.position
        if envelope.registry_key_id not in self.registry_public_keys:
            raise EnvelopeError(f"unknown registry key {envelope.registry_key_id}", position)
        check_place(envelope, ledger.position + 1, ledger.head_hash)
        if check_signatures:
            verify_sealed(envelope, self.registry_public_keys)
        if body.recorded_at_us < self.latest_time_us - rules.FORGET_MARGIN_US:
            # Ids of commands expired before (latest time - margin) are forgotten; a time
            # further back would make a forgotten command look live and let it run twice.
            behind_s = (self.latest_time_us - body.recorded_at_us) // 1_000_000
            raise EnvelopeError(
                f"recorded time is {behind_s} s behind an earlier envelope's, more than "
                f"the {rules.FORGET_MARGIN_US // 1_000_000} s a replay of command ids allows",
                position,
            )
        try:
            command = self.codec.decode_command(body.command.command_bytes)
            recorded = [self.codec.decode_event(effect) for effect in body.effects]
        except Rejection as rejection:
            raise EnvelopeError(f"undecodable content: {rejection.detail}", position) from None
        if (command.actor_id, command.key_id) != (body.command.actor_id, body.command.key_id):
            raise EnvelopeError("signed actor differs from the command's actor", position)
        if ledger.live_command(command.command_id, body.recorded_at_us) is not None:
            raise EnvelopeError(f"command id {command.command_id!r} recorded twice", position)
        try:
            public_key = rules.verifying_key(ledger, command)
        except Rejection as rejection:
            raise EnvelopeError(
                f"actor key not valid here: {rejection.message}", position
            ) from None
        work = SignatureWork(
            position,
            ",".join(type(event).__name__ for event in recorded),
            self.registry_public_keys[envelope.registry_key_id],
            envelope.body_bytes,
            envelope.registry_signature,
            public_key,
            body.command.command_bytes,
            body.command.signature,
        )
        if check_signatures and not verify_actor_signature(body.command, public_key):
            raise EnvelopeError(f"actor signature of {command.actor_id} does not verify", position)
        try:
            decided = rules.decide(ledger, command, body.recorded_at_us)
        except Rejection as rejection:
            raise EnvelopeError(
                f"a rule rejects this command: {rejection.message}", position
            ) from None
        if decided != recorded:
            raise EnvelopeError("recorded effects differ from the effects the rules give", position)
        for event in decided:
            ledger.apply(event, position)
        digest = hashlib.sha256(body.command.command_bytes).digest()
        ledger.record_command(command.command_id, position, digest, command.expires_at_us)
        ledger.advance(position, envelope.hash)
        self.latest_time_us = max(self.latest_time_us, body.recorded_at_us)
        if position % 1_000 == 0:
            ledger.forget_expired(self.latest_time_us - rules.FORGET_MARGIN_US)
        return decided, work


def verify_history(
    envelopes: Iterable[OpenedEnvelope],
    registry_public_keys: Mapping[str, bytes],
    codec: Codec | None = None,
) -> VerificationReport:
    """Verify in one process. Stops at the first envelope that cannot be trusted: what
    follows it is unanchored."""
    replayer = Replayer(registry_public_keys, codec)
    report = VerificationReport(ledger=replayer.ledger)
    for envelope in envelopes:
        report.envelopes += 1
        try:
            replayer.step(envelope)
        except EnvelopeError as error:
            report.discrepancies.append(
                Discrepancy(error.position or envelope.body.position, error.reason)
            )
            break
    else:
        report.discrepancies.extend(
            Discrepancy(replayer.ledger.position, p) for p in invariant_violations(replayer.ledger)
        )
    return report
