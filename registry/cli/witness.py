"""`credit-registry witness init|run|status`: a partner's witness. `init` makes its key file
(HOME/witnesses/NAME.key, passphrase from CREDIT_REGISTRY_WITNESS_PASSPHRASE); `run` follows
the log (Kafka with --kafka, else the embedded log), verifies everything itself and cosigns
the checkpoints, keeping its state in HOME/witnesses/NAME.sqlite or --state-url; `status`
prints what a state database holds, split-history evidence in full with --json. `run
--exit-when-caught-up` and `status` exit 1 when the witness holds evidence of a split
history or had to stop."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from registry.cli.home import Home, passphrase
from registry.envelope.keys import SigningKey, public_keys_from_environment, public_keys_from_hex
from registry.log.kafka import TopicSettings
from registry.support.observability import metrics_port_from_environment, serve_metrics
from registry.transparency.witnessing import check_witness_id
from registry.witness.kafka import KafkaFollow
from registry.witness.sources import EmbeddedFollow, Follow
from registry.witness.state import WitnessState
from registry.witness.witness import Witness

WITNESS_PASSPHRASE_VARIABLE = "CREDIT_REGISTRY_WITNESS_PASSPHRASE"


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser(
        "witness", help="follow the log as an independent witness and cosign its checkpoints"
    ).add_subparsers(title="witness")

    def identity(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", type=_name, help="the witness's name, e.g. iwaizumi-witness")
        parser.add_argument("--key-file", type=Path, help="default: HOME/witnesses/NAME.key")

    init = group.add_parser("init", help="create the witness's signing key file")
    identity(init)
    init.set_defaults(handler=_init)

    run = group.add_parser("run", help="follow the log, verify it, cosign its checkpoints")
    identity(run)
    _state_option(run)
    run.add_argument(
        "--kafka", default=os.environ.get("CREDIT_REGISTRY_KAFKA"), help="bootstrap servers"
    )
    run.add_argument(
        "--topic", default=os.environ.get("CREDIT_REGISTRY_TOPIC", TopicSettings.topic)
    )
    run.add_argument(
        "--database-url", help="event store holding the embedded log (default: --home's)"
    )
    run.add_argument(
        "--registry-public-key",
        action="append",
        default=public_keys_from_environment(),
        help="hex Ed25519 public key the registry's history starts from (required, unless "
        "the embedded store of --home records it)",
    )
    run.add_argument("--interval-ms", type=int, default=1_000, help="between reads of the log")
    run.add_argument("--exit-when-caught-up", action="store_true")
    run.set_defaults(handler=_run)

    status = group.add_parser("status", help="what a witness's state database holds")
    status.add_argument("name", type=_name, nargs="?", help="for its default state database")
    _state_option(status)
    status.add_argument("--json", action="store_true", help="everything, evidence in full")
    status.set_defaults(handler=_status)


def _name(value: str) -> str:
    try:
        return check_witness_id(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _state_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-url",
        default=os.environ.get("CREDIT_REGISTRY_WITNESS_STATE_URL"),
        help="the witness's own database (default: HOME/witnesses/NAME.sqlite)",
    )


def _key_path(arguments: argparse.Namespace) -> Path:
    return (
        arguments.key_file or Home(arguments.home).directory / "witnesses" / f"{arguments.name}.key"
    )


def _state_url(arguments: argparse.Namespace) -> str:
    if arguments.state_url:
        return str(arguments.state_url)
    if not arguments.name:
        raise SystemExit("give the witness's name or --state-url")
    directory = Home(arguments.home).directory / "witnesses"
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / arguments.name}.sqlite?timeout=30"


def _init(arguments: argparse.Namespace) -> int:
    path = _key_path(arguments)
    if path.exists():
        print(f"{path} exists: witness {arguments.name} has a key already", file=sys.stderr)
        return 2
    key = SigningKey.generate()
    key.save(path, passphrase(WITNESS_PASSPHRASE_VARIABLE, f"witness {arguments.name}'s key"))
    print(f"witness {arguments.name}: key id {key.key_id}")
    print(f"public key {key.public_key.hex()}")
    print(f"key file {path}")
    return 0


def _registry_keys(arguments: argparse.Namespace) -> dict[str, bytes]:
    """Fail closed: a witness trusts nothing but the registry key its history starts from."""
    if arguments.registry_public_key:
        return public_keys_from_hex(arguments.registry_public_key)
    if not arguments.kafka and not arguments.database_url:
        home_keys = Home(arguments.home).root_registry_keys()
        if home_keys is not None:
            return home_keys
    print(
        "a witness needs the registry's public key: --registry-public-key or "
        "CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY",
        file=sys.stderr,
    )
    raise SystemExit(2)


def _run(arguments: argparse.Namespace) -> int:
    logging.getLogger("registry").setLevel(logging.INFO)
    keys = _registry_keys(arguments)
    path = _key_path(arguments)
    if not path.exists():
        raise SystemExit(f"no key file at {path}; create one with 'witness init {arguments.name}'")
    key = SigningKey.load(
        path, passphrase(WITNESS_PASSPHRASE_VARIABLE, f"witness {arguments.name}'s key")
    )
    state = WitnessState(_state_url(arguments), key.key_id)
    follow: Follow = (
        KafkaFollow(arguments.kafka, arguments.topic, keys)
        if arguments.kafka
        else EmbeddedFollow(arguments.database_url or Home(arguments.home).database_url)
    )
    witness = Witness(arguments.name, key, keys, follow, state)
    serve_metrics(metrics_port_from_environment())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with contextlib.suppress(KeyboardInterrupt):
            witness.run(stop, arguments.interval_ms, arguments.exit_when_caught_up)
    finally:
        follow.close()
    anchor = witness.anchor
    split = state.split_histories()
    print(
        f"witness {arguments.name} ({key.key_id}) on {follow.description}: verified "
        f"{witness.tree.size} envelopes; cosigned last checkpoint "
        f"{anchor.tree_size if anchor else '-'}; split histories {len(split)}"
    )
    if witness.halted:
        print(f"stopped: {witness.halted}")
    return 1 if witness.halted or split else 0


def _status(arguments: argparse.Namespace) -> int:
    url = _state_url(arguments)
    states = [WitnessState(url, key_id) for key_id in WitnessState.witnesses(url)]
    if arguments.json:
        print(json.dumps({"witnesses": [_status_json(state) for state in states]}, indent=2))
    split = False
    for state in states:
        cosignatures, evidence = state.cosignatures(), state.split_histories()
        split = split or bool(evidence)
        if arguments.json:
            continue
        names = {c.witness_id for c in cosignatures} | {e.witness_id for e in evidence}
        last = cosignatures[-1].tree_size if cosignatures else "-"
        print(
            f"witness {', '.join(sorted(names))} {state.key_id}: cosigned "
            f"{len(cosignatures)} checkpoint(s), the last of size {last}"
        )
        for found in evidence:
            sizes = ", ".join(str(c.tree_size) for c in found.checkpoints)
            print(f"  SPLIT HISTORY ({found.kind}): {found.reason} [checkpoints {sizes}]")
    return 1 if split else 0


def _status_json(state: WitnessState) -> dict[str, object]:
    cosignatures = state.cosignatures()
    return {
        "key_id": state.key_id,
        "cosigned": len(cosignatures),
        "last_cosignature": cosignatures[-1].to_json() if cosignatures else None,
        "split_histories": [evidence.to_json() for evidence in state.split_histories()],
    }
