"""`credit-registry restore`: rebuild a lost event store from the log (see write/restore.py)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from registry.audit.auditor import Progress
from registry.audit.sources import ExportSource, KafkaSource, Source
from registry.cli.home import REGISTRY_PASSPHRASE_VARIABLE, Home, passphrase
from registry.envelope.keys import SigningKey, public_keys_from_environment, public_keys_from_hex
from registry.log.kafka import TopicSettings
from registry.write.restore import RestoreError, restore


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "restore",
        help="rebuild an empty event store from the Kafka topic or an export, verifying all",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--kafka", help="bootstrap servers of the log to restore from")
    where.add_argument("--export", type=Path, help="an export file to restore from")
    parser.add_argument(
        "--topic", default=os.environ.get("CREDIT_REGISTRY_TOPIC", TopicSettings.topic)
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("CREDIT_REGISTRY_DATABASE_URL"),
        help="the empty event store to restore into (default: the SQLite file in --home)",
    )
    parser.add_argument(
        "--registry-public-key",
        action="append",
        default=public_keys_from_environment(),
        help="hex Ed25519 public key the history starts from (default: the home's root key)",
    )
    parser.add_argument(
        "--registry-key",
        type=Path,
        help="the registry key file, to sign the snapshot the service starts from "
        "(default: registry.key in --home, when there is one)",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    parser.set_defaults(handler=_restore)


def _restore(arguments: argparse.Namespace) -> int:
    home = Home(arguments.home)
    if arguments.registry_public_key:
        pinned = public_keys_from_hex(arguments.registry_public_key)
    else:
        pinned = home.root_registry_keys() or {}
    if not pinned:
        print("give --registry-public-key: the key the history starts from", file=sys.stderr)
        return 2
    key_file = arguments.registry_key or home.registry_key_path
    keys = []
    if key_file.exists():
        keys.append(
            SigningKey.load(key_file, passphrase(REGISTRY_PASSPHRASE_VARIABLE, "the registry key"))
        )
    source: Source = (
        ExportSource(arguments.export)
        if arguments.export
        else KafkaSource(arguments.kafka, arguments.topic)
    )
    bar = Progress(source.total, enabled=arguments.progress)
    try:
        report = restore(
            source,
            arguments.database_url or home.database_url,
            pinned,
            keys,
            arguments.workers,
            bar.update,
        )
    except RestoreError as error:
        print(
            f"restore failed at position {error.position}: {error.reason}; "
            "nothing was written (the target database is as it was)",
            file=sys.stderr,
        )
        return 1
    bar.update(report.envelopes, final=True)
    rate = report.envelopes / report.elapsed_s if report.elapsed_s else 0.0
    snapshot = (
        f"a snapshot at {report.snapshot_position}"
        if report.snapshot_position is not None
        else "no snapshot"
    )
    print(
        f"restored {report.envelopes} envelopes and {report.checkpoints} checkpoints from "
        f"{report.source}, every one verified, in {report.elapsed_s:.1f} s ({rate:,.0f}/s); "
        f"{snapshot}"
    )
    for note in report.notes:
        print(f"note: {note}")
    return 0
