"""`credit-registry init` and `log`: creating the embedded store in --home, with the
registry's key and the operator, and printing what it has recorded."""

from __future__ import annotations

import argparse
import sys

from registry.cli.home import PASSPHRASE_VARIABLE, REGISTRY_PASSPHRASE_VARIABLE, Home, passphrase
from registry.cli.submit import report
from registry.client.command_signer import CommandSigner
from registry.domain import commands as c
from registry.envelope.keys import SigningKey


def add_init_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    init = commands.add_parser(
        "init", help="create an embedded store with a registry key and an operator"
    )
    init.add_argument("--operator-id", default="tokyo-62-secretariat")
    init.add_argument("--operator-name", default="Green Tokyo project secretariat")
    init.set_defaults(handler=_init)


def add_log_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    log = commands.add_parser("log", help="print the recorded envelopes")
    log.add_argument("--after", type=int, default=0, help="start after this position")
    log.set_defaults(handler=_log)


def _init(arguments: argparse.Namespace) -> int:
    home = Home(arguments.home)
    if home.exists():
        print(f"{home.directory} is already initialised", file=sys.stderr)
        return 2
    home.directory.mkdir(parents=True, exist_ok=True)
    registry_key = SigningKey.generate()
    registry_key.save(
        home.registry_key_path, passphrase(REGISTRY_PASSPHRASE_VARIABLE, "the registry key")
    )
    home.root_key_path.write_text(registry_key.public_key.hex() + "\n", "utf-8")
    operator_key = SigningKey.generate()
    operator_key.save(
        home.key_path(arguments.operator_id), passphrase(PASSPHRASE_VARIABLE, "the operator's key")
    )
    home.write_config(arguments.operator_id)
    app = home.open()
    signer = CommandSigner(app.codec, arguments.operator_id, operator_key)
    body = c.RegisterParty(
        arguments.operator_id, "operator", arguments.operator_name, operator_key.public_key
    )
    report(app.submit(signer.sign(body)))
    print(
        f"initialised {home.directory}: registry key {registry_key.key_id}, operator {arguments.operator_id}"
    )
    return 0


def _log(arguments: argparse.Namespace) -> int:
    app = Home(arguments.home).open()
    for envelope in app.read_envelopes(arguments.after):
        body = envelope.body
        effects = [type(app.codec.decode_event(effect)).__name__ for effect in body.effects]
        print(
            f"{body.position:>8}  {body.command.actor_id:<22} {', '.join(effects)}  {envelope.hash.hex()[:16]}"
        )
    return 0
