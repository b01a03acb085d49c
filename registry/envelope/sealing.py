"""Envelopes: the signed command, its effects and its place in history, sealed by the registry.

The sealed envelope's exact bytes are what the store keeps, what the relay publishes and
what the next envelope's `previous_hash` covers. `verify_sealed` is the one function every
verifier (the write side on load, auditors, partner nodes) uses."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from registry.domain.checks import Rejection
from registry.envelope.codec import NAMESPACE, SchemaRegistry
from registry.envelope.keys import SigningKey, verify

BODY_SCHEMA = f"{NAMESPACE}.EnvelopeBody"
SEALED_SCHEMA = f"{NAMESPACE}.SealedEnvelope"


@dataclass(frozen=True, slots=True)
class Cosignature:
    """Another party's signature over the same command bytes the actor signed."""

    party_id: str
    key_id: str
    signature: bytes


@dataclass(frozen=True, slots=True)
class SignedCommand:
    actor_id: str
    key_id: str
    command_bytes: bytes
    signature: bytes
    cosignatures: tuple[Cosignature, ...] = ()  # envelope body v2


@dataclass(frozen=True, slots=True)
class EnvelopeBody:
    position: int
    recorded_at_us: int
    previous_hash: bytes
    command: SignedCommand
    effects: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class OpenedEnvelope:
    sealed_bytes: bytes
    body_bytes: bytes
    body: EnvelopeBody
    registry_key_id: str
    registry_signature: bytes

    @property
    def hash(self) -> bytes:
        return envelope_hash(self.sealed_bytes)


class EnvelopeError(Exception):
    """An envelope failed a check; `reason` is stable text an auditor can report."""

    def __init__(self, reason: str, position: int | None = None) -> None:
        self.reason = reason
        self.position = position
        super().__init__(f"position {position}: {reason}" if position is not None else reason)


def envelope_hash(sealed_bytes: bytes) -> bytes:
    return hashlib.sha256(sealed_bytes).digest()


def seal(schemas: SchemaRegistry, body: EnvelopeBody, registry_key: SigningKey) -> bytes:
    body_record = {
        "position": body.position,
        "recorded_at_us": body.recorded_at_us,
        "previous_hash": body.previous_hash,
        "command": {
            "actor_id": body.command.actor_id,
            "key_id": body.command.key_id,
            "command_bytes": body.command.command_bytes,
            "signature": body.command.signature,
            "cosignatures": [
                {"party_id": c.party_id, "key_id": c.key_id, "signature": c.signature}
                for c in body.command.cosignatures
            ],
        },
        "effects": list(body.effects),
    }
    body_bytes = schemas.encode(BODY_SCHEMA, body_record)
    sealed_record = {
        "body": body_bytes,
        "registry_key_id": registry_key.key_id,
        "registry_signature": registry_key.sign(body_bytes),
    }
    return schemas.encode(SEALED_SCHEMA, sealed_record)


def open_sealed(schemas: SchemaRegistry, sealed_bytes: bytes) -> OpenedEnvelope:
    try:
        name, sealed = schemas.decode(sealed_bytes)
        if name != SEALED_SCHEMA:
            raise EnvelopeError(f"expected a sealed envelope, found {name}")
        name, body = schemas.decode(sealed["body"])
        if name != BODY_SCHEMA:
            raise EnvelopeError(f"expected an envelope body, found {name}")
    except Rejection as rejection:
        raise EnvelopeError(f"undecodable envelope: {rejection.detail}") from None
    command = body["command"]
    return OpenedEnvelope(
        sealed_bytes=sealed_bytes,
        body_bytes=sealed["body"],
        body=EnvelopeBody(
            position=body["position"],
            recorded_at_us=body["recorded_at_us"],
            previous_hash=body["previous_hash"],
            command=SignedCommand(
                command["actor_id"],
                command["key_id"],
                command["command_bytes"],
                command["signature"],
                tuple(
                    Cosignature(c["party_id"], c["key_id"], c["signature"])
                    for c in command.get("cosignatures", ())
                ),
            ),
            effects=tuple(body["effects"]),
        ),
        registry_key_id=sealed["registry_key_id"],
        registry_signature=sealed["registry_signature"],
    )


def verify_sealed(
    envelope: OpenedEnvelope,
    registry_public_keys: Mapping[str, bytes],
    expected_position: int | None = None,
    expected_previous_hash: bytes | None = None,
) -> None:
    """Check the registry's countersignature and, when given, the place in the chain."""
    position = envelope.body.position
    public_key = registry_public_keys.get(envelope.registry_key_id)
    if public_key is None:
        raise EnvelopeError(f"unknown registry key {envelope.registry_key_id}", position)
    if not verify(public_key, envelope.registry_signature, envelope.body_bytes):
        raise EnvelopeError("registry countersignature does not verify", position)
    if expected_position is not None:
        if expected_previous_hash is None:
            raise TypeError("an expected position needs the expected previous hash")
        check_place(envelope, expected_position, expected_previous_hash)


def check_place(
    envelope: OpenedEnvelope, expected_position: int, expected_previous_hash: bytes
) -> None:
    """The envelope must be the next one, and link to the previous envelope's hash."""
    position = envelope.body.position
    if position > expected_position:
        raise EnvelopeError(
            f"position {expected_position} is missing or out of order (found {position} next)",
            expected_position,
        )
    if position < expected_position:
        raise EnvelopeError(
            f"position {position} appears again after {expected_position - 1} (duplicate or reordered)",
            position,
        )
    if envelope.body.previous_hash != expected_previous_hash:
        raise EnvelopeError("hash chain broken: previous_hash does not match", position)


def verify_actor_signature(command: SignedCommand, public_key: bytes) -> bool:
    return verify(public_key, command.signature, command.command_bytes)


def verify_cosignature(command: SignedCommand, cosignature: Cosignature, public_key: bytes) -> bool:
    return verify(public_key, cosignature.signature, command.command_bytes)
