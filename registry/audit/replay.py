"""Replay and verify a history from nothing but the registry's public keys and the envelopes.

An auditor's order of reasoning, for each envelope: it decodes; the registry's
countersignature verifies (else it was altered after sealing, and nothing in it can be
believed); its place in the chain (position, previous hash); the actor's signature under
the key active at that point; and only then the rules, by deciding the command again at its
recorded time and comparing with the recorded effects. A finding against the rules is an
accusation against the registry, so it is made only of an envelope whose countersignature
was checked first.

The audit goes on past a finding where the history still allows it: an authentic envelope
that breaks a rule is reported and its effects applied as the registry recorded them. It
stops where it does not (`Unanchored`): an altered envelope, a broken chain, content that
cannot be read or applied; what follows could not be anchored to what was verified.

The registry's key is the one the key history gives the envelope's position: the pinned
first key, then each handover the chain records (signed by the outgoing key). Co-signatures
are checked beside the actor's, under the co-signers' active keys.

The audit verifies the chain, not every countersignature: every hash link in order here,
and the registry's countersignature once a chunk, on its last envelope, whose signed body
commits to every earlier byte of the chunk (auditor.py). The actor signatures go to worker
processes (`SignatureWork`) for speed. A check that fails in order makes the envelope's
countersignature (and its predecessor's, for a broken link) be verified at once, before
anything is reported; a chunk whose last countersignature fails is checked envelope by
envelope, and the first that fails is reported as altered at its own position."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeAlias

from registry.domain import commands as cmd
from registry.domain import events as ev
from registry.domain import rules
from registry.domain.checks import Rejection
from registry.domain.commands import Command
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

ALTERED = "altered after sealing: the registry's countersignature does not verify"
ACTOR_SIGNATURE = "actor signature does not verify under the key active at this position"
COSIGNATURE = "a co-signature does not verify under the co-signer's active key"
FINDINGS_MAX = 100  # then the audit stops: a history this wrong needs people, not a longer list


@dataclass
class Discrepancy:
    position: int
    reason: str
    event: str = ""  # the event types of the envelope, when it could be read


@dataclass(frozen=True)
class Stop:
    """Where the audit stopped, and why: nothing after `position` was checked."""

    position: int
    reason: str


class Unanchored(Exception):
    """The history cannot be followed past this envelope."""

    def __init__(self, findings: list[Discrepancy], stop: Stop) -> None:
        self.findings = findings
        self.stop = stop
        super().__init__(f"stopped at {stop.position}: {stop.reason}")


@dataclass(frozen=True, slots=True)
class SignatureWork:
    """The actor's signature (and any co-signatures) of one envelope, with the keys the
    history says must verify them (no actor key when the history names none: that is
    reported already), and the registry key its countersignature must verify under. The
    countersignature itself is checked once a chunk, on its last envelope (see
    auditor.py): the chain links every earlier one to it."""

    position: int
    event: str
    registry_public_key: bytes
    actor_public_key: bytes | None
    command_bytes: bytes
    actor_signature: bytes
    cosignatures: tuple[tuple[bytes, bytes], ...] = ()  # (public key, signature)

    def task(self) -> ActorTask:
        """What a worker process needs, as plain values (cheap to send)."""
        return (
            self.position,
            self.event,
            self.actor_public_key,
            self.command_bytes,
            self.actor_signature,
            self.cosignatures,
        )


# (position, event types, actor key, command bytes, actor signature, co-signatures)
ActorTask: TypeAlias = tuple[int, str, bytes | None, bytes, bytes, tuple[tuple[bytes, bytes], ...]]


def actor_failure(task: ActorTask) -> str | None:
    """In a worker: why the actor's signature or a co-signature does not verify, or None."""
    _position, _event, actor_key, command_bytes, signature, cosignatures = task
    if actor_key is not None and not verify(actor_key, signature, command_bytes):
        return ACTOR_SIGNATURE
    for public_key, cosignature in cosignatures:
        if not verify(public_key, cosignature, command_bytes):
            return COSIGNATURE
    return None


@dataclass(frozen=True, slots=True)
class Signers:
    """The keys the history says must verify an envelope's actor and co-signers."""

    actor_key: bytes
    cosignatures: tuple[tuple[bytes, bytes], ...]  # (public key, signature)


@dataclass(frozen=True)
class Step:
    """What one envelope gave: the effects applied, its signature work, and its findings."""

    events: list[ev.Event]
    work: SignatureWork
    findings: list[Discrepancy]
    applied: bool = True  # False for an identical duplicate, skipped


@dataclass
class VerificationReport:
    envelopes: int = 0
    discrepancies: list[Discrepancy] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)
    stopped: Stop | None = None

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
        self.previous: OpenedEnvelope | None = None  # to judge a broken link

    # -- the registry's countersignature, judged first -----------------------------------
    def registry_key_for(self, envelope: OpenedEnvelope) -> bytes | None:
        """The registry public key the envelope's countersignature must verify under: the
        key the history gives its position, if the envelope names it (else None)."""
        return self.key_history.keys_for(envelope.body.position).get(envelope.registry_key_id)

    def countersignature_verifies(self, envelope: OpenedEnvelope) -> bool:
        key = self.registry_key_for(envelope)
        return key is not None and verify(key, envelope.registry_signature, envelope.body_bytes)

    def _require_sealed(self, envelope: OpenedEnvelope) -> None:
        """Raise Unanchored unless the registry's countersignature verifies."""
        position = envelope.body.position
        if self.registry_key_for(envelope) is None:
            reason = f"unknown registry key {envelope.registry_key_id}"
            try:
                self.key_history.check(envelope)  # names the key this position needs
            except EnvelopeError as error:
                reason = error.reason
            raise Unanchored(
                [Discrepancy(position, reason)],
                Stop(position, f"{reason}: nothing from here on can be authenticated"),
            )
        if not self.countersignature_verifies(envelope):
            raise Unanchored(
                [Discrepancy(position, ALTERED, self.event_names(envelope))],
                Stop(position, "altered after sealing: its true content is unknown"),
            )

    def _judge_place(self, envelope: OpenedEnvelope, error: EnvelopeError) -> Step | None:
        """A misplaced envelope: altered (this one or the one it should link to), a
        duplicate of the one before (skipped: returns a Step), or a break in the chain."""
        self._require_sealed(envelope)
        previous = self.previous
        position = envelope.body.position
        if previous is not None and position == previous.body.position:
            if envelope.sealed_bytes == previous.sealed_bytes:
                finding = Discrepancy(position, f"{error.reason}: identical bytes, skipped")
                work = self._work(envelope, None, self.event_names(envelope))
                return Step([], work, [finding], applied=False)
        elif previous is not None and position == previous.body.position + 1:
            self._require_sealed(previous)  # it was applied; its signature was deferred
        where = error.position or position
        raise Unanchored(
            [Discrepancy(where, error.reason)],
            Stop(where, "the chain is broken here: what follows is unanchored"),
        )

    # -- one envelope -------------------------------------------------------------------
    def step(self, envelope: OpenedEnvelope, check_signatures: bool = True) -> Step:
        """Check and apply one envelope. Raises Unanchored where the audit must stop;
        returns its findings otherwise (empty: all is well). With check_signatures False
        the caller verifies the returned signature work itself, later."""
        if check_signatures or self.registry_key_for(envelope) is None:
            self._require_sealed(envelope)
        try:
            check_place(envelope, self.ledger.position + 1, self.ledger.head_hash)
        except EnvelopeError as error:
            skipped = self._judge_place(envelope, error)
            if skipped is not None:
                return skipped
        command, recorded = self._decode(envelope)
        names = ",".join(type(event).__name__ for event in recorded)
        findings, signers = self._judge_actor(envelope, command, names, check_signatures)
        if not findings:
            findings = self._judge_rules(envelope, command, recorded, names)
        if findings and not check_signatures:
            self._require_sealed(envelope)  # never accuse the registry of an altered envelope
        try:
            self._apply(envelope, command, recorded, guarded=bool(findings))
        except Unanchored as unanchored:
            raise Unanchored(findings + unanchored.findings, unanchored.stop) from None
        return Step(recorded, self._work(envelope, signers, names), findings)

    def _decode(self, envelope: OpenedEnvelope) -> tuple[Command, list[ev.Event]]:
        body = envelope.body
        try:
            command = self.codec.decode_command(body.command.command_bytes)
            recorded = [self.codec.decode_event(effect) for effect in body.effects]
        except Rejection as rejection:
            self._require_sealed(envelope)
            reason = f"undecodable content: {rejection.detail}"
            raise Unanchored(
                [Discrepancy(body.position, reason)],
                Stop(body.position, "its content cannot be read, so its effects are unknown"),
            ) from None
        return command, recorded

    def _judge_actor(
        self, envelope: OpenedEnvelope, command: Command, names: str, check_signatures: bool
    ) -> tuple[list[Discrepancy], Signers | None]:
        """Who signed: the actor named inside the command, its key and the co-signers' at
        this point of the history, and (when checked in order) their signatures."""
        body = envelope.body
        signed = body.command
        if (command.actor_id, command.key_id) != (signed.actor_id, signed.key_id):
            reason = "signed actor differs from the command's actor"
            return [Discrepancy(body.position, reason, names)], None
        try:
            signers = Signers(
                rules.verifying_key(self.ledger, command),
                tuple(
                    (rules.cosigner_key(self.ledger, c.party_id, c.key_id), c.signature)
                    for c in signed.cosignatures
                ),
            )
        except Rejection as rejection:
            reason = f"actor key not valid here: {rejection.message}"
            return [Discrepancy(body.position, reason, names)], None
        if check_signatures and not verify_actor_signature(signed, signers.actor_key):
            reason = f"actor signature of {command.actor_id} does not verify"
            return [Discrepancy(body.position, reason, names)], signers
        if check_signatures and not all(
            verify(key, signature, signed.command_bytes) for key, signature in signers.cosignatures
        ):
            return [Discrepancy(body.position, COSIGNATURE, names)], signers
        return [], signers

    def _judge_rules(
        self, envelope: OpenedEnvelope, command: Command, recorded: list[ev.Event], names: str
    ) -> list[Discrepancy]:
        body = envelope.body
        if body.recorded_at_us < self.latest_time_us - rules.FORGET_MARGIN_US:
            # Ids of commands expired before (latest time - margin) are forgotten; a time
            # further back would make a forgotten command look live and let it run twice.
            behind_s = (self.latest_time_us - body.recorded_at_us) // 1_000_000
            reason = (
                f"recorded time is {behind_s} s behind an earlier envelope's, more than "
                f"the {rules.FORGET_MARGIN_US // 1_000_000} s a replay of command ids allows"
            )
            return [Discrepancy(body.position, reason, names)]
        if self.ledger.live_command(command.command_id, body.recorded_at_us) is not None:
            reason = f"command id {command.command_id!r} recorded twice"
            return [Discrepancy(body.position, reason, names)]
        cosigners = tuple(c.party_id for c in body.command.cosignatures)
        try:
            decided = rules.decide(self.ledger, command, body.recorded_at_us, cosigners)
        except Rejection as rejection:
            reason = f"a rule rejects this command: {rejection.message}"
            return [Discrepancy(body.position, reason, names)]
        if decided != recorded:
            reason = "recorded effects differ from the effects the rules give"
            return [Discrepancy(body.position, reason, names)]
        if isinstance(command.body, cmd.RotateRegistryKey):
            self._require_handover(command.body, body.position)
        return []

    def _require_handover(self, body: cmd.RotateRegistryKey, position: int) -> None:
        """Every later seal depends on a handover: one that fails stops the audit here."""
        handover = Handover(
            body.effective_after_position,
            body.retired_key_id,
            body.public_key,
            body.handover_signature,
        )
        reason = self.key_history.problem(handover)
        if reason is not None:
            reason = f"registry-key handover refused: {reason}"
            raise Unanchored(
                [Discrepancy(position, reason)],
                Stop(position, "no later seal can be trusted without a valid handover"),
            )

    def _apply(
        self, envelope: OpenedEnvelope, command: Command, recorded: list[ev.Event], guarded: bool
    ) -> None:
        """The effects as the registry recorded them: the rules' own when all is well, or,
        `guarded` after a finding, undone if they do not even apply to the ledger."""
        ledger = self.ledger
        body = envelope.body
        if not guarded:
            for event in recorded:
                ledger.apply(event, body.position)
        else:
            ledger.begin()
            try:
                for event in recorded:
                    ledger.apply(event, body.position)
            except Exception as error:  # effects that break the ledger itself: state unknown
                ledger.rollback()
                raise Unanchored(
                    [],
                    Stop(body.position, f"its recorded effects cannot be applied ({error})"),
                ) from None
            ledger.commit()
        try:
            follow_events(self.key_history, envelope.registry_key_id, body.position, recorded)
        except EnvelopeError as error:
            raise Unanchored(
                [Discrepancy(body.position, error.reason)],
                Stop(body.position, "no later seal can be trusted without a valid handover"),
            ) from None
        digest = hashlib.sha256(body.command.command_bytes).digest()
        ledger.record_command(command.command_id, body.position, digest, command.expires_at_us)
        ledger.advance(body.position, envelope.hash)
        self.previous = envelope
        self.latest_time_us = max(self.latest_time_us, body.recorded_at_us)
        if body.position % 1_000 == 0:
            ledger.forget_expired(self.latest_time_us - rules.FORGET_MARGIN_US)

    def _work(self, envelope: OpenedEnvelope, signers: Signers | None, names: str) -> SignatureWork:
        body = envelope.body
        return SignatureWork(
            body.position,
            names,
            self.registry_key_for(envelope) or b"",
            None if signers is None else signers.actor_key,
            body.command.command_bytes,
            body.command.signature,
            () if signers is None else signers.cosignatures,
        )

    def event_names(self, envelope: OpenedEnvelope) -> str:
        try:
            return ",".join(
                type(self.codec.decode_event(effect)).__name__ for effect in envelope.body.effects
            )
        except Rejection:
            return ""


def verify_history(
    envelopes: Iterable[OpenedEnvelope],
    registry_public_keys: Keys,
    codec: Codec | None = None,
) -> VerificationReport:
    """Verify in one process: every finding up to FINDINGS_MAX, and where it stopped."""
    replayer = Replayer(registry_public_keys, codec)
    report = VerificationReport(ledger=replayer.ledger)
    for envelope in envelopes:
        report.envelopes += 1
        try:
            report.discrepancies.extend(replayer.step(envelope).findings)
        except Unanchored as unanchored:
            report.discrepancies.extend(unanchored.findings)
            report.stopped = unanchored.stop
            return report
        if len(report.discrepancies) > FINDINGS_MAX:
            position = envelope.body.position
            report.stopped = Stop(position, f"more than {FINDINGS_MAX} findings")
            return report
    report.discrepancies.extend(
        Discrepancy(replayer.ledger.position, p) for p in invariant_violations(replayer.ledger)
    )
    return report
