"""Replay and verify a history from nothing but the registry's public keys and the envelopes.

For each envelope, in order: the registry countersignature, by the key the key history gives
its position (from the pinned key, along the handovers in the chain), the position and the
hash chain; the actor's signature and any co-signatures under the keys active at that point;
a registry-key handover under the outgoing key; and the rules, by deciding the
command again at its recorded time and comparing with the recorded effects. The write side,
the demo and the audit all use this. The audit defers the two signature checks to worker
processes (`SignatureWork`); everything else must run in order."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from registry.domain import commands as cmd
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
)
from registry.transparency.registry_keys import (
    Handover,
    Keys,
    RegistryKeyHistory,
    follow_events,
    pinned_keys,
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
    cosignatures: tuple[tuple[bytes, bytes], ...] = ()  # (public key, signature)

    def failure(self) -> str | None:
        if not verify(self.registry_public_key, self.registry_signature, self.body_bytes):
            return "registry countersignature does not verify"
        if not verify(self.actor_public_key, self.actor_signature, self.command_bytes):
            return "actor signature does not verify under the key active at this position"
        for public_key, signature in self.cosignatures:
            if not verify(public_key, signature, self.command_bytes):
                return "a co-signature does not verify under the co-signer's active key"
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
    def __init__(self, registry_public_keys: Keys, codec: Codec | None = None) -> None:
        """`registry_public_keys`: the pinned key(s) the history starts from."""
        self.registry_public_keys = pinned_keys(registry_public_keys)
        self.key_history = RegistryKeyHistory(dict(self.registry_public_keys))
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
        sealing_keys = self.key_history.keys_for(position)
        if envelope.registry_key_id not in sealing_keys:
            self.key_history.check(envelope)  # raises, naming the key this position needs
        check_place(envelope, ledger.position + 1, ledger.head_hash)
        if check_signatures:
            self.key_history.check(envelope)
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
        work = self._signature_work(envelope, command, recorded, sealing_keys, check_signatures)
        cosigners = tuple(c.party_id for c in body.command.cosignatures)
        try:
            decided = rules.decide(ledger, command, body.recorded_at_us, cosigners)
        except Rejection as rejection:
            raise EnvelopeError(
                f"a rule rejects this command: {rejection.message}", position
            ) from None
        if decided != recorded:
            raise EnvelopeError("recorded effects differ from the effects the rules give", position)
        if isinstance(command.body, cmd.RotateRegistryKey):
            self._check_handover(command.body, position)
        for event in decided:
            ledger.apply(event, position)
        follow_events(self.key_history, envelope.registry_key_id, position, decided)
        digest = hashlib.sha256(body.command.command_bytes).digest()
        ledger.record_command(command.command_id, position, digest, command.expires_at_us)
        ledger.advance(position, envelope.hash)
        self.latest_time_us = max(self.latest_time_us, body.recorded_at_us)
        if position % 1_000 == 0:
            ledger.forget_expired(self.latest_time_us - rules.FORGET_MARGIN_US)
        return decided, work

    def _signature_work(
        self,
        envelope: OpenedEnvelope,
        command: cmd.Command,
        recorded: list[ev.Event],
        sealing_keys: dict[str, bytes],
        check_signatures: bool,
    ) -> SignatureWork:
        """The keys the history says must verify the actor's and co-signers' signatures;
        checked here when check_signatures, else left to the caller's workers."""
        position, signed = envelope.body.position, envelope.body.command
        try:
            public_key = rules.verifying_key(self.ledger, command)
            cosignatures = tuple(
                (rules.cosigner_key(self.ledger, c.party_id, c.key_id), c.signature)
                for c in signed.cosignatures
            )
        except Rejection as rejection:
            raise EnvelopeError(
                f"actor key not valid here: {rejection.message}", position
            ) from None
        work = SignatureWork(
            position,
            ",".join(type(event).__name__ for event in recorded),
            sealing_keys[envelope.registry_key_id],
            envelope.body_bytes,
            envelope.registry_signature,
            public_key,
            signed.command_bytes,
            signed.signature,
            cosignatures,
        )
        if check_signatures and not verify_actor_signature(signed, public_key):
            raise EnvelopeError(f"actor signature of {command.actor_id} does not verify", position)
        if check_signatures and not all(
            verify(k, s, signed.command_bytes) for k, s in cosignatures
        ):
            raise EnvelopeError("a co-signature does not verify", position)
        return work

    def _check_handover(self, body: cmd.RotateRegistryKey, position: int) -> None:
        """Checked in order, whatever `check_signatures` says: every later seal depends on it."""
        handover = Handover(
            body.effective_after_position,
            body.retired_key_id,
            body.public_key,
            body.handover_signature,
        )
        reason = self.key_history.problem(handover)
        if reason is not None:
            raise EnvelopeError(f"registry-key handover refused: {reason}", position)


def verify_history(
    envelopes: Iterable[OpenedEnvelope],
    registry_public_keys: Keys,
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
