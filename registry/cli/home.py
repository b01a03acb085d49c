"""The embedded store's home directory: the SQLite file and the key files beside it.

Layout:  HOME/registry.sqlite · HOME/registry.key (the registry's countersigning key, the
current one after a rotation) · HOME/registry-root.pub (hex: the registry key the history
starts from, the one auditors pin) · HOME/keys/<party_id>.key (parties' signing keys) and
HOME/keys/<party_id>.recovery.key (their recovery keys, to be moved offline; on a real
deployment each party keeps its own) · HOME/config.json (the operator's id). Passphrases
come from the environment or a prompt, never from arguments (arguments show up in `ps` and
shell history)."""

from __future__ import annotations

import getpass
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from registry.envelope.keys import SigningKey, public_keys_from_hex
from registry.write.application import RegistryApplication

PASSPHRASE_VARIABLE = "CREDIT_REGISTRY_PASSPHRASE"
REGISTRY_PASSPHRASE_VARIABLE = "CREDIT_REGISTRY_REGISTRY_PASSPHRASE"
# Recovery keys: their own passphrase when this is set, else the signing keys' one.
RECOVERY_PASSPHRASE_VARIABLE = "CREDIT_REGISTRY_RECOVERY_PASSPHRASE"


def passphrase(variable: str, purpose: str) -> bytes:
    value = os.environ.get(variable)
    if value is None:
        if not sys.stdin.isatty():
            raise SystemExit(f"set {variable} to the passphrase of {purpose} (no terminal to ask)")
        value = getpass.getpass(f"passphrase for {purpose}: ")
    if not value:
        raise SystemExit(f"an empty passphrase is not allowed for {purpose}")
    return value.encode()


@dataclass(frozen=True)
class Home:
    directory: Path

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.directory / 'registry.sqlite'}?timeout=30"

    @property
    def registry_key_path(self) -> Path:
        return self.directory / "registry.key"

    @property
    def root_key_path(self) -> Path:
        return self.directory / "registry-root.pub"

    def root_registry_keys(self) -> dict[str, bytes] | None:
        """The pinned key the history starts from, when the home records one."""
        if not self.root_key_path.exists():
            return None
        return public_keys_from_hex([self.root_key_path.read_text("utf-8").strip()])

    def key_path(self, party_id: str) -> Path:
        return self.directory / "keys" / f"{party_id}.key"

    def recovery_key_path(self, party_id: str) -> Path:
        return self.directory / "keys" / f"{party_id}.recovery.key"

    @property
    def config_path(self) -> Path:
        return self.directory / "config.json"

    def exists(self) -> bool:
        return self.config_path.exists()

    def operator_id(self) -> str:
        return str(json.loads(self.config_path.read_text("utf-8"))["operator_id"])

    def write_config(self, operator_id: str) -> None:
        self.config_path.write_text(
            json.dumps({"operator_id": operator_id}, indent=2) + "\n", "utf-8"
        )

    def registry_key(self) -> SigningKey:
        return SigningKey.load(
            self.registry_key_path, passphrase(REGISTRY_PASSPHRASE_VARIABLE, "the registry key")
        )

    def party_key(self, party_id: str) -> SigningKey:
        path = self.key_path(party_id)
        if not path.exists():
            raise SystemExit(
                f"no key file for {party_id} at {path}; create one with 'keys new {party_id}'"
            )
        return SigningKey.load(path, passphrase(PASSPHRASE_VARIABLE, f"{party_id}'s key"))

    def recovery_key(self, party_id: str) -> SigningKey:
        path = self.recovery_key_path(party_id)
        if not path.exists():
            raise SystemExit(f"no recovery key file for {party_id} at {path}")
        return SigningKey.load(path, recovery_passphrase(party_id))

    def open(self, database_url: str | None = None) -> RegistryApplication:
        if not self.exists():
            raise SystemExit(
                f"{self.directory} is not initialised; run 'credit-registry init' first"
            )
        # A command starts from the store's snapshot, and leaves writing them to `serve`.
        return RegistryApplication(
            database_url or self.database_url,
            self.registry_key(),
            pinned_registry_keys=self.root_registry_keys(),
            snapshot_interval=None,
        )


def recovery_passphrase(party_id: str) -> bytes:
    variable = (
        RECOVERY_PASSPHRASE_VARIABLE
        if RECOVERY_PASSPHRASE_VARIABLE in os.environ
        else PASSPHRASE_VARIABLE
    )
    return passphrase(variable, f"{party_id}'s recovery key")
