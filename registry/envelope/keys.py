"""Ed25519 signing and verification, over exact bytes, with passphrase-protected key files.

Nothing here re-serialises what it signs: callers pass the bytes that are stored and sent."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry.domain.ledger import key_id_for

SIGNATURE_LENGTH = 64


@dataclass(frozen=True)
class SigningKey:
    """A private key and the ids derived from it. `repr` never shows the secret."""

    private_key: Ed25519PrivateKey
    public_key: bytes
    key_id: str

    @classmethod
    def generate(cls) -> SigningKey:
        return cls.from_private_key(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_key(cls, private_key: Ed25519PrivateKey) -> SigningKey:
        public = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return cls(private_key, public, key_id_for(public))

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        return cls.from_private_key(Ed25519PrivateKey.from_private_bytes(seed))

    @staticmethod
    def key_id_of(public_key: bytes) -> str:
        return key_id_for(public_key)

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"

    def to_pem(self, passphrase: bytes | None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def save(self, path: Path, passphrase: bytes | None) -> None:
        """Write the key readable by its owner only (created 0600, never world-readable)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(self.to_pem(passphrase))

    @classmethod
    def load(cls, path: Path, passphrase: bytes | None) -> SigningKey:
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), passphrase)
        except (ValueError, TypeError) as error:
            # Deliberately vague: the message must not echo the passphrase or key material.
            raise ValueError(
                f"cannot open key file {path}: wrong passphrase or not a key"
            ) from error
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 key; only Ed25519 keys are used")
        return cls.from_private_key(private)


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    if len(signature) != SIGNATURE_LENGTH or len(public_key) != 32:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def public_keys_from_hex(hex_keys: list[str]) -> dict[str, bytes]:
    """Registry public keys as given on a command line or in the environment (hex), by id."""
    keys = {}
    for hex_key in hex_keys:
        public = bytes.fromhex(hex_key)
        if len(public) != 32:
            raise ValueError(f"an Ed25519 public key is 32 bytes, not {len(public)}")
        keys[key_id_for(public)] = public
    return keys


def public_keys_from_environment() -> list[str]:
    """CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY: one hex key, or several (rotated) by commas."""
    value = os.environ.get("CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY", "")
    return [part.strip() for part in value.split(",") if part.strip()]
