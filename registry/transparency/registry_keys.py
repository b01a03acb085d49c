"""The registry's key history: which countersigning key seals which positions.

Trust starts from the key a reader pinned (an auditor's `--registry-public-key`, the
environment's CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY, or the write side's own key) and follows
handovers as they appear in the chain. A handover is recorded by a RotateRegistryKey command
(event RegistryKeyRotated) and signed by the outgoing key over `handover_message`; the
envelope at its position is the last the outgoing key seals, every later one is sealed by the
new key. So a countersignature or checkpoint by a key outside its positions is refused: the
old key after its rotation, or a new key before it was handed over.

In-order readers (the write side, the audit, the embedded log) follow handovers from the
envelopes. Readers that see only some partitions (projection workers) learn them from the
checkpoints topic, where the relay publishes each handover before the envelope that records
it (see docs/auditing.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TypeAlias

from registry.domain import commands as cmd
from registry.domain import events as ev
from registry.domain.ledger import key_id_for
from registry.envelope.codec import HEADER_LENGTH, NAMESPACE, Codec, SchemaRegistry
from registry.envelope.keys import SigningKey, verify
from registry.envelope.sealing import EnvelopeError, OpenedEnvelope
from registry.transparency.proof_verifier import handover_message

ROTATION_SCHEMA = f"{NAMESPACE}.RegistryKeyRotated"


@dataclass(frozen=True, slots=True)
class Handover:
    """The outgoing key's signature handing the registry over to `public_key` after
    `position` (the rotation's own envelope, the last the outgoing key seals)."""

    position: int
    retired_key_id: str
    public_key: bytes
    signature: bytes

    @property
    def key_id(self) -> str:
        return key_id_for(self.public_key)

    @classmethod
    def of(cls, event: ev.RegistryKeyRotated) -> Handover:
        return cls(
            event.effective_after_position,
            event.retired_key_id,
            event.public_key,
            event.handover_signature,
        )

    def verifies(self, retired_public_key: bytes) -> bool:
        message = handover_message(self.position, retired_public_key, self.public_key)
        return verify(retired_public_key, self.signature, message)

    def to_json(self) -> dict[str, object]:
        """As `proof_verifier.py` reads it from a proof document."""
        return {
            "kind": "handover",
            "effective_after_position": self.position,
            "retired_key_id": self.retired_key_id,
            "key_id": self.key_id,
            "public_key": self.public_key.hex(),
            "handover_signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Handover:
        return cls(
            int(str(data["effective_after_position"])),
            str(data["retired_key_id"]),
            bytes.fromhex(str(data["public_key"])),
            bytes.fromhex(str(data["handover_signature"])),
        )


def rotation_command(
    outgoing: SigningKey, new_public_key: bytes, position: int
) -> cmd.RotateRegistryKey:
    """The operator's RotateRegistryKey, to be recorded at `position`, with the outgoing
    key's handover signature: only the holder of the outgoing key can make one."""
    message = handover_message(position, outgoing.public_key, new_public_key)
    return cmd.RotateRegistryKey(outgoing.key_id, new_public_key, position, outgoing.sign(message))


class HandoverError(ValueError):
    """A handover that does not extend the history; `reason` is fit for a report."""

    def __init__(self, reason: str, position: int) -> None:
        self.reason = reason
        self.position = position
        super().__init__(f"position {position}: {reason}")


@dataclass(frozen=True, slots=True)
class _Span:
    first_position: int
    key_id: str
    public_key: bytes


@dataclass
class RegistryKeyHistory:
    """The pinned keys, and the handovers followed from them. Several pinned keys are
    alternative roots until the history shows which one it starts from (its first handover,
    or the key sealing position 1 for in-order readers)."""

    pinned: dict[str, bytes]
    handovers: list[Handover] = field(default_factory=list)
    _spans: list[_Span] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.pinned:
            raise ValueError("a key history needs at least one pinned registry key")
        if len(self.pinned) == 1:
            self._root(next(iter(self.pinned)))

    def _root(self, key_id: str) -> None:
        self._spans = [_Span(1, key_id, self.pinned[key_id])]

    def keys_for(self, position: int) -> dict[str, bytes]:
        """The keys that may seal `position`: exactly one once the root is known."""
        if not self._spans:
            return dict(self.pinned)
        span = next(
            (s for s in reversed(self._spans) if s.first_position <= position), self._spans[0]
        )
        return {span.key_id: span.public_key}

    def problem(self, handover: Handover) -> str | None:
        """Why `handover` cannot extend this history, or None."""
        last = self.handovers[-1].position if self.handovers else 0
        if handover.position <= last:
            return f"a handover at position {handover.position} after one at {last}"
        retired = self.keys_for(handover.position).get(handover.retired_key_id)
        if retired is None:
            return f"the handover retires {handover.retired_key_id}, not the registry key here"
        if not handover.verifies(retired):
            return "the handover is not signed by the outgoing registry key"
        if handover.key_id in {span.key_id for span in self._spans} | set(self.pinned):
            return f"the handover brings back registry key {handover.key_id}"
        return None

    def follow(self, handover: Handover) -> None:
        """Extend the history; a handover already followed is accepted again (re-sends)."""
        if handover in self.handovers:
            return
        reason = self.problem(handover)
        if reason is not None:
            raise HandoverError(reason, handover.position)
        if not self._spans:
            self._root(handover.retired_key_id)
        self.handovers.append(handover)
        self._spans.append(_Span(handover.position + 1, handover.key_id, handover.public_key))

    def truncate(self, count: int) -> None:
        """Forget handovers after the first `count` (a commit that lost its race)."""
        del self.handovers[count:]
        self._spans = self._spans[:1] + [
            _Span(h.position + 1, h.key_id, h.public_key) for h in self.handovers
        ]

    def check(self, envelope: OpenedEnvelope) -> None:
        """The envelope is sealed by the key for its position, and the seal verifies."""
        position = envelope.body.position
        allowed = self.keys_for(position)
        public_key = allowed.get(envelope.registry_key_id)
        if public_key is None:
            key_id = envelope.registry_key_id
            known = {span.key_id for span in self._spans} | set(self.pinned)
            if key_id not in known:
                raise EnvelopeError(f"unknown registry key {key_id}", position)
            raise EnvelopeError(
                f"registry key {key_id} does not seal position {position}: "
                f"{', '.join(sorted(allowed))} does (see the key history)",
                position,
            )
        if not verify(public_key, envelope.registry_signature, envelope.body_bytes):
            raise EnvelopeError("registry countersignature does not verify", position)

    def settle_root(self, position: int, sealing_key_id: str) -> None:
        """In-order readers: the key sealing position 1 is the root among the pinned keys."""
        if not self._spans and position == 1 and sealing_key_id in self.pinned:
            self._root(sealing_key_id)


Keys: TypeAlias = Mapping[str, bytes] | RegistryKeyHistory


def history_of(keys: Keys) -> RegistryKeyHistory:
    """A key history from pinned keys, or the history itself (with what it has learned)."""
    if isinstance(keys, RegistryKeyHistory):
        return keys
    return RegistryKeyHistory(dict(keys))


def pinned_keys(keys: Keys) -> dict[str, bytes]:
    """The keys a history starts from, for a reader that follows the chain itself."""
    return dict(keys.pinned if isinstance(keys, RegistryKeyHistory) else keys)


def handover_in(codec: Codec, envelope: OpenedEnvelope) -> Handover | None:
    """The handover an envelope records, if any. Looks at the effects' schema fingerprints
    first, so ordinary envelopes are not decoded."""
    rotation_fingerprints = _rotation_fingerprints(codec.schemas)
    for effect in envelope.body.effects:
        if effect[2:HEADER_LENGTH] in rotation_fingerprints:
            event = codec.decode_event(effect)
            if isinstance(event, ev.RegistryKeyRotated):
                return Handover.of(event)
    return None


def records_handover(schemas: SchemaRegistry, envelope: OpenedEnvelope) -> bool:
    """Whether an envelope's effects include a handover, by their schema fingerprints
    alone (nothing is decoded): where a reader of the chain must end a run."""
    rotation_fingerprints = _rotation_fingerprints(schemas)
    return any(effect[2:HEADER_LENGTH] in rotation_fingerprints for effect in envelope.body.effects)


@cache
def _rotation_fingerprints(schemas: SchemaRegistry) -> frozenset[bytes]:
    return frozenset(
        fingerprint
        for fingerprint, known in schemas.by_fingerprint.items()
        if known.name == ROTATION_SCHEMA
    )


def follow_events(
    history: RegistryKeyHistory, sealing_key_id: str, position: int, events: Iterable[object]
) -> None:
    """In-order readers, once the envelope at `position` (sealed by `sealing_key_id`) has
    been checked: settle the root, and take up the handover its events record."""
    history.settle_root(position, sealing_key_id)
    for event in events:
        if not isinstance(event, ev.RegistryKeyRotated):
            continue
        handover = Handover.of(event)
        if handover.position != position:
            raise EnvelopeError(f"a handover naming position {handover.position}", position)
        try:
            history.follow(handover)
        except HandoverError as error:
            raise EnvelopeError(error.reason, position) from None


def follow_envelope(history: RegistryKeyHistory, codec: Codec, envelope: OpenedEnvelope) -> None:
    """`follow_events` for readers that do not decode the effects themselves."""
    handover = handover_in(codec, envelope)
    events = [] if handover is None else [codec.decode_event(e) for e in envelope.body.effects]
    follow_events(history, envelope.registry_key_id, envelope.body.position, events)
