"""The `credit-registry` command. Entry points only translate: arguments in, application
calls, text out. Exit status 0 on success, 1 on a rejected command, 2 on usage errors."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from datetime import date
from pathlib import Path

import sqlalchemy

from registry import reference
from registry.cli import audit as cli_audit
from registry.cli import deliveries as cli_deliveries
from registry.cli import keys as cli_keys
from registry.cli import projections as cli_projections
from registry.cli import serve as cli_serve
from registry.cli import web as cli_web
from registry.cli.home import PASSPHRASE_VARIABLE, REGISTRY_PASSPHRASE_VARIABLE, Home, passphrase
from registry.cli.submit import report, submit
from registry.client.commands import CommandSigner
from registry.domain import commands as c
from registry.domain.events import Beneficiary
from registry.envelope.keys import SigningKey
from registry.log import Publisher
from registry.log.embedded import EmbeddedLog
from registry.log.kafka import KafkaPublisher, TopicSettings, ensure_topics
from registry.relay.positions import RelayPositions
from registry.relay.publishing import Relay
from registry.support.observability import (
    configure_logging,
    metrics_port_from_environment,
    serve_metrics,
)
from registry.support.presentation import table, tonnes
from registry.transparency.checkpoints import CheckpointStore
from registry.write.persistence import event_store_recorder


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if not hasattr(arguments, "handler"):
        parser.print_help()
        return 2
    try:
        return int(arguments.handler(arguments))
    except ValueError as error:  # e.g. a key file that the passphrase does not open
        print(f"error: {error}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="credit-registry", description=__doc__)
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("CREDIT_REGISTRY_HOME", "registry-data")),
        help="embedded store directory (keys, SQLite files)",
    )
    parser.add_argument(
        "--server",
        default=os.environ.get("CREDIT_REGISTRY_SERVER"),
        help="send commands and queries to this gRPC server instead of the embedded store",
    )
    parser.add_argument(
        "--ca", type=Path, default=_env_path("CREDIT_REGISTRY_CA"), help="CA to trust (enables TLS)"
    )
    parser.add_argument(
        "--client-cert", type=Path, default=_env_path("CREDIT_REGISTRY_CLIENT_CERT")
    )
    parser.add_argument("--client-key", type=Path, default=_env_path("CREDIT_REGISTRY_CLIENT_KEY"))
    commands = parser.add_subparsers(title="commands")

    demo = commands.add_parser(
        "demo", help="the Tokyo 62 joint purchase end to end through gRPC on the embedded default"
    )
    demo.add_argument(
        "--out", type=Path, default=Path("demo-output"), help="where the report and certificates go"
    )
    demo.set_defaults(handler=_demo)

    init = commands.add_parser(
        "init", help="create an embedded store with a registry key and an operator"
    )
    init.add_argument("--operator-id", default="tokyo-62-secretariat")
    init.add_argument("--operator-name", default="Green Tokyo project secretariat")
    init.set_defaults(handler=_init)

    keys = commands.add_parser("keys", help="key files").add_subparsers(title="keys")
    new_key = keys.add_parser("new", help="create a passphrase-protected key file for a party")
    new_key.add_argument("party_id")
    new_key.set_defaults(handler=_keys_new)
    cli_keys.add_commands(keys, commands)

    party = commands.add_parser(
        "register-party", help="register a party with its public key (operator)"
    )
    party.add_argument("party_id")
    party.add_argument(
        "--role",
        required=True,
        choices=["municipality", "issuer", "operator", "auditor", "business"],
    )
    party.add_argument(
        "--name", help="defaults to the shipped name for the 62 municipalities and Iwaizumi"
    )
    party.add_argument("--name-ja")
    party.add_argument("--public-key", required=True, help="hex, as printed by 'keys new'")
    party.set_defaults(handler=_register_party)

    credit_class = commands.add_parser("register-class", help="register a credit class (operator)")
    credit_class.add_argument("class_id")
    credit_class.add_argument("--name", required=True)
    credit_class.add_argument("--issuer", action="append", required=True, dest="issuers")
    credit_class.set_defaults(handler=_register_class)

    project = commands.add_parser("register-project", help="register a project under a class")
    _actor(project)
    project.add_argument("project_id")
    for option in ("--class", "--name", "--location", "--methodology", "--proponent"):
        project.add_argument(option, required=True)
    project.set_defaults(handler=_register_project)

    issue = commands.add_parser("issue", help="issue a batch of credits (an authorised issuer)")
    _actor(issue)
    issue.add_argument("--project", required=True)
    issue.add_argument("--vintage-start", type=date.fromisoformat, required=True)
    issue.add_argument("--vintage-end", type=date.fromisoformat, required=True)
    issue.add_argument("--quantity-kg", type=int, required=True)
    issue.add_argument("--to", required=True)
    issue.set_defaults(handler=_issue)

    transfer = commands.add_parser("transfer", help="transfer credits to another party")
    _actor(transfer)
    transfer.add_argument("--to", required=True)
    transfer.add_argument("--quantity-kg", type=int, required=True)
    transfer.add_argument("--batch")
    transfer.add_argument("--memo", default="")
    transfer.set_defaults(handler=_transfer)

    retire = commands.add_parser("retire", help="retire credits for a beneficiary")
    _actor(retire)
    retire.add_argument("--quantity-kg", type=int, required=True)
    retire.add_argument("--beneficiary", required=True, help="beneficiary name")
    retire.add_argument("--beneficiary-party", help="beneficiary party id, when registered")
    retire.add_argument("--purpose", required=True)
    retire.add_argument("--year", type=int, required=True, help="reporting year")
    retire.add_argument("--batch")
    retire.add_argument("--memo", default="")
    retire.set_defaults(handler=_retire)

    balance = commands.add_parser("balance", help="a party's holdings by batch")
    balance.add_argument("party_id")
    balance.set_defaults(handler=_balance)

    relay = commands.add_parser(
        "relay", help="publish stored envelopes to Kafka, or to the embedded log"
    )
    relay.add_argument(
        "--database-url", help="event store URL (default: the embedded store in --home)"
    )
    _kafka_options(relay)
    relay.add_argument("--batch-events", type=int, default=500)
    relay.add_argument("--exit-when-caught-up", action="store_true")
    relay.add_argument("--pause-before-commit-ms", type=int, default=0, help=argparse.SUPPRESS)
    relay.set_defaults(handler=_relay)

    topics = commands.add_parser("create-topics", help="create the envelope and quarantine topics")
    _kafka_options(topics)
    topics.add_argument(
        "--partitions", type=int, default=int(os.environ.get("CREDIT_REGISTRY_PARTITIONS", "3"))
    )
    topics.add_argument(
        "--replication-factor",
        type=int,
        default=int(os.environ.get("CREDIT_REGISTRY_REPLICATION", "1")),
    )
    topics.add_argument(
        "--min-insync-replicas",
        type=int,
        default=int(os.environ.get("CREDIT_REGISTRY_MIN_ISR", "1")),
    )
    topics.set_defaults(handler=_create_topics)

    cli_projections.add_commands(commands)
    cli_serve.add_commands(commands)
    cli_audit.add_commands(commands)
    cli_deliveries.add_commands(commands)
    cli_web.add_commands(commands)

    log = commands.add_parser("log", help="print the recorded envelopes")
    log.add_argument("--after", type=int, default=0, help="start after this position")
    log.set_defaults(handler=_log)
    return parser


def _env_path(variable: str) -> Path | None:
    value = os.environ.get(variable)
    return Path(value) if value else None


def _kafka_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kafka", default=os.environ.get("CREDIT_REGISTRY_KAFKA"), help="bootstrap servers"
    )
    parser.add_argument(
        "--topic", default=os.environ.get("CREDIT_REGISTRY_TOPIC", TopicSettings.topic)
    )


def _relay(arguments: argparse.Namespace) -> int:
    logging.getLogger("registry").setLevel(logging.INFO)
    serve_metrics(metrics_port_from_environment())
    database_url = arguments.database_url or Home(arguments.home).database_url
    engine = sqlalchemy.create_engine(database_url)
    publisher: Publisher = (
        KafkaPublisher(arguments.kafka, arguments.topic) if arguments.kafka else EmbeddedLog(engine)
    )
    relay = Relay(
        event_store_recorder(database_url),
        publisher,
        RelayPositions(engine),
        relay_name="kafka:" + arguments.topic if arguments.kafka else "embedded",
        batch_events=arguments.batch_events,
        pause_before_commit_ms=arguments.pause_before_commit_ms,
        checkpoints=CheckpointStore(engine),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        relay.run(stop, exit_when_caught_up=arguments.exit_when_caught_up)
    except KeyboardInterrupt:
        pass
    finally:
        publisher.close()
    print(f"relay stopped at position {relay.positions.get(relay.relay_name)}")
    return 0


def _create_topics(arguments: argparse.Namespace) -> int:
    if not arguments.kafka:
        print("--kafka (or CREDIT_REGISTRY_KAFKA) is required", file=sys.stderr)
        return 2
    settings = TopicSettings(
        arguments.topic,
        arguments.partitions,
        arguments.replication_factor,
        arguments.min_insync_replicas,
    )
    ensure_topics(arguments.kafka, settings)
    print(
        f"topics ready: {settings.topic} and {settings.topic}.quarantine ({settings.partitions} partitions)"
    )
    return 0


def _actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as", dest="actor", required=True, help="acting party id (its key file signs)"
    )


def _demo(arguments: argparse.Namespace) -> int:
    from registry.cli.demo import run_demo

    return run_demo(arguments.out)


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


def _keys_new(arguments: argparse.Namespace) -> int:
    home = Home(arguments.home)
    key = SigningKey.generate()
    key.save(
        home.key_path(arguments.party_id),
        passphrase(PASSPHRASE_VARIABLE, f"{arguments.party_id}'s key"),
    )
    print(
        f"key_id     {key.key_id}\npublic_key {key.public_key.hex()}\nfile       {home.key_path(arguments.party_id)}"
    )
    return 0


def _register_party(arguments: argparse.Namespace) -> int:
    name = arguments.name
    name_ja = arguments.name_ja
    if name is None:
        known = {m.code: m for m in reference.municipalities()}.get(arguments.party_id)
        if known is None:
            print("--name is required for parties outside the shipped list", file=sys.stderr)
            return 2
        name, name_ja = known.name_en, name_ja or known.name_ja
    body = c.RegisterParty(
        arguments.party_id, arguments.role, name, bytes.fromhex(arguments.public_key), name_ja
    )
    return submit(arguments, Home(arguments.home).operator_id(), body)


def _register_class(arguments: argparse.Namespace) -> int:
    body = c.RegisterCreditClass(arguments.class_id, arguments.name, tuple(arguments.issuers))
    return submit(arguments, Home(arguments.home).operator_id(), body)


def _register_project(arguments: argparse.Namespace) -> int:
    body = c.RegisterProject(
        arguments.project_id,
        getattr(arguments, "class"),
        arguments.name,
        arguments.location,
        arguments.methodology,
        arguments.proponent,
    )
    return submit(arguments, arguments.actor, body)


def _issue(arguments: argparse.Namespace) -> int:
    body = c.IssueCredits(
        arguments.project,
        arguments.vintage_start,
        arguments.vintage_end,
        arguments.quantity_kg,
        arguments.to,
    )
    return submit(arguments, arguments.actor, body)


def _transfer(arguments: argparse.Namespace) -> int:
    body = c.TransferCredits(
        arguments.actor, arguments.to, arguments.quantity_kg, arguments.batch, arguments.memo
    )
    return submit(arguments, arguments.actor, body)


def _retire(arguments: argparse.Namespace) -> int:
    details = c.RetirementDetails(
        Beneficiary(arguments.beneficiary, arguments.beneficiary_party),
        arguments.purpose,
        arguments.year,
        arguments.memo,
    )
    return submit(
        arguments,
        arguments.actor,
        c.RetireCredits(arguments.actor, arguments.quantity_kg, details, arguments.batch),
    )


def _balance(arguments: argparse.Namespace) -> int:
    if arguments.server:
        with cli_serve.client(arguments) as client:
            balance = client.balance(arguments.party_id)
        lines = [
            (
                line.class_id,
                line.vintage,
                tonnes(line.tradable_kg),
                tonnes(line.pending_kg),
                tonnes(line.retired_kg),
            )
            for line in balance.lines
        ]
        print(
            table(
                ("class", "vintage", "tradable t", "pending t", "retired t"), lines, right=(2, 3, 4)
            )
        )
        print(f"tradable total: {tonnes(balance.tradable_kg)} t-CO2")
        return 0
    app = Home(arguments.home).open()
    ledger = app.ledger
    if arguments.party_id not in ledger.parties:
        print(f"unknown party {arguments.party_id}", file=sys.stderr)
        return 1
    rows = []
    for batch_id in ledger.party_batches.get(arguments.party_id, ()):
        blocks = ledger.held(arguments.party_id, batch_id)
        quantity_kg = sum(end - start + 1 for start, end in blocks)
        rows.append((batch_id, len(blocks), quantity_kg, tonnes(quantity_kg)))
    print(table(("batch", "blocks", "kg", "t-CO2"), rows, right=(1, 2, 3)))
    print(f"tradable total: {tonnes(ledger.tradable_kg(arguments.party_id))} t-CO2")
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
