"""The embedded store's home directory: the SQLite file and the key files beside it.

Layout:  HOME/registry.sqlite · HOME/registry.key (the registry's countersigning key) ·
HOME/keys/<party_id>.key (parties' keys; on a real deployment each party keeps its own) ·
HOME/config.json (the operator's id). Passphrases come from the environment or a prompt,
never from arguments (arguments show up in `ps` and shell history)."""

from __future__ import annotations

import getpass
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from registry.envelope.keys import SigningKey
from registry.write.application import RegistryApplication

PASSPHRASE_VARIABLE = "CREDIT_REGISTRY_PASSPHRASE"
REGISTRY_PASSPHRASE_VARIABLE = "CREDIT_REGISTRY_REGISTRY_PASSPHRASE"


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

    def key_path(self, party_id: str) -> Path:
        return self.directory / "keys" / f"{party_id}.key"

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

    def open(self) -> RegistryApplication:
        if not self.exists():
            raise SystemExit(
                f"{self.directory} is not initialised; run 'credit-registry init' first"
            )
        return RegistryApplication(self.database_url, self.registry_key())
