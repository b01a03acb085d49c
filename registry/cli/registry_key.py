"""`credit-registry registry-key`: print the registry's public key (and the first one,
after a rotation), and `registry-key rotate`: hand the countersigning key over to a new
one, in the chain. It holds both keys: the outgoing key signs the handover and seals
the rotation's envelope, the new key seals every later one. Other replicas then refuse to
write (REGISTRY_KEY_NOT_CURRENT) until restarted with the new key file; auditors keep the
first key pinned (HOME/registry-root.pub) and follow the handovers."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from registry.cli.home import REGISTRY_PASSPHRASE_VARIABLE, Home, passphrase
from registry.cli.submit import report
from registry.client.command_signer import CommandSigner
from registry.domain.checks import CheckCode
from registry.envelope.keys import SigningKey
from registry.transparency.registry_keys import rotation_command
from registry.write.application import RegistryApplication

NEW_PASSPHRASE_VARIABLE = "CREDIT_REGISTRY_NEW_REGISTRY_PASSPHRASE"
ROTATION_ATTEMPTS_MAX = 5  # the handover names its position; another writer may take it first


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    key = commands.add_parser(
        "registry-key",
        help="print the registry's public key (give the first one to auditors), or rotate it",
    )
    key.set_defaults(handler=_registry_key)
    rotate = key.add_subparsers(title="registry-key").add_parser(
        "rotate", help="hand the registry key over to a new key (operator, holding both)"
    )
    rotate.add_argument(
        "--new-key-file",
        type=Path,
        required=True,
        help="the new key: loaded if it exists, else created there",
    )
    rotate.add_argument("--database-url", help="the event store (default: --home's)")
    rotate.set_defaults(handler=_rotate)


def _new_key(path: Path) -> SigningKey:
    variable = (
        NEW_PASSPHRASE_VARIABLE
        if NEW_PASSPHRASE_VARIABLE in os.environ
        else REGISTRY_PASSPHRASE_VARIABLE
    )
    secret = passphrase(variable, "the new registry key")
    if path.exists():
        return SigningKey.load(path, secret)
    key = SigningKey.generate()
    key.save(path, secret)
    return key


def _rotate(arguments: argparse.Namespace) -> int:
    home = Home(arguments.home)
    outgoing = home.registry_key()
    incoming = _new_key(arguments.new_key_file)
    if not home.root_key_path.exists():  # first rotation: the history starts at this key
        home.root_key_path.write_text(outgoing.public_key.hex() + "\n", "utf-8")
    app = RegistryApplication(
        arguments.database_url or home.database_url,
        outgoing,
        further_registry_keys=[incoming],
        pinned_registry_keys=home.root_registry_keys(),
        snapshot_interval=None,
    )
    operator = home.operator_id()
    signer = CommandSigner(app.codec, operator, home.party_key(operator))
    for _attempt in range(ROTATION_ATTEMPTS_MAX):
        app.catch_up()
        position = app.ledger.position + 1
        result = app.submit(signer.sign(rotation_command(outgoing, incoming.public_key, position)))
        if result.code is not CheckCode.BAD_HANDOVER or app.ledger.position + 1 == position:
            break
    if report(result) != 0:
        return 1
    _install(home, arguments.new_key_file)
    print(
        f"registry key {outgoing.key_id} handed over to {incoming.key_id} after position "
        f"{position}; restart every replica with {arguments.new_key_file}. Auditors keep "
        f"the first key pinned: {home.root_key_path.read_text('utf-8').strip()}"
    )
    return 0


def _install(home: Home, new_key_file: Path) -> None:
    """The home's registry.key becomes the new key (the retired one signs nothing again)."""
    if new_key_file.resolve() == home.registry_key_path.resolve():
        return
    staged = home.registry_key_path.with_name(home.registry_key_path.name + ".new")
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(new_key_file.read_bytes())
    os.replace(staged, home.registry_key_path)
    print(f"{home.registry_key_path} now holds the new key", file=sys.stderr)


def _registry_key(arguments: argparse.Namespace) -> int:
    home = Home(arguments.home)
    key = SigningKey.load(
        home.registry_key_path, passphrase(REGISTRY_PASSPHRASE_VARIABLE, "the registry key")
    )
    print(f"key_id     {key.key_id}\npublic_key {key.public_key.hex()}")
    root = home.root_registry_keys()
    if root is not None and key.key_id not in root:
        # After a rotation: the key the history starts from is the one auditors pin.
        print(f"root_public_key {next(iter(root.values())).hex()}")
    return 0
