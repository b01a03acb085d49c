"""`credit-registry audit`, `export`, `prove` and `checkpoint`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from registry.audit.auditor import Auditor
from registry.audit.proofs import consistency_document, inclusion_document
from registry.audit.sources import DatabaseSource, ExportSource, KafkaSource, Source
from registry.audit.sources import export as export_history
from registry.cli.home import REGISTRY_PASSPHRASE_VARIABLE, Home, passphrase
from registry.envelope.keys import SigningKey, public_keys_from_environment, public_keys_from_hex
from registry.log.kafka import TopicSettings
from registry.write.application import RegistryApplication

PAGE_EVENTS = 2_000


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    def source_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--export", type=Path, help="an export file")
        parser.add_argument(
            "--kafka", default=os.environ.get("CREDIT_REGISTRY_KAFKA"), help="bootstrap servers"
        )
        parser.add_argument(
            "--topic", default=os.environ.get("CREDIT_REGISTRY_TOPIC", TopicSettings.topic)
        )
        parser.add_argument(
            "--database-url",
            help="the event store itself (default: --home's, when nothing else is given)",
        )

    audit = commands.add_parser("audit", help="verify the whole history and rebuild every balance")
    source_options(audit)
    audit.add_argument(
        "--registry-public-key",
        action="append",
        default=public_keys_from_environment(),
        help="hex Ed25519 public key of the registry (repeat for rotated keys)",
    )
    audit.add_argument(
        "--compare-projections", help="a live projection database to compare with the rebuild"
    )
    audit.add_argument(
        "--report",
        type=Path,
        default=Path("audit-report.json"),
        help="where the JSON report goes; '-': one line on stdout, the summary on stderr",
    )
    audit.add_argument("--workers", type=int, default=os.cpu_count())
    audit.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    audit.set_defaults(handler=_audit)

    export = commands.add_parser("export", help="write the history to an Avro container file")
    source_options(export)
    export.add_argument("--out", type=Path, required=True)
    export.set_defaults(handler=_export)

    prove = commands.add_parser(
        "prove", help="inclusion or consistency proofs for the standalone verifier"
    )
    source_options(prove)
    kind = prove.add_mutually_exclusive_group(required=True)
    kind.add_argument("--position", type=int, help="prove that this envelope is in the log")
    kind.add_argument(
        "--consistency",
        nargs=2,
        type=int,
        metavar=("OLD_SIZE", "NEW_SIZE"),
        help="prove that checkpoint NEW_SIZE extends checkpoint OLD_SIZE",
    )
    prove.add_argument(
        "--checkpoint-size", type=int, help="the checkpoint to prove against (default: the latest)"
    )
    prove.add_argument("--out", type=Path, required=True)
    prove.set_defaults(handler=_prove)

    checkpoint = commands.add_parser(
        "checkpoint", help="record a signed checkpoint at the head now"
    )
    checkpoint.add_argument("--database-url")
    checkpoint.set_defaults(handler=_checkpoint)


def _source(arguments: argparse.Namespace) -> Source:
    if arguments.export:
        return ExportSource(arguments.export)
    if arguments.kafka:
        return KafkaSource(arguments.kafka, arguments.topic)
    return DatabaseSource(arguments.database_url or Home(arguments.home).database_url)


def _audit(arguments: argparse.Namespace) -> int:
    if not arguments.registry_public_key:
        print("give --registry-public-key (see 'credit-registry registry-key')", file=sys.stderr)
        return 2
    keys = public_keys_from_hex(arguments.registry_public_key)
    source = _source(arguments)
    auditor = Auditor(keys, arguments.workers, arguments.compare_projections, arguments.progress)
    report = auditor.run(source)
    document = report.to_json()
    # The verdict is the exit status and the report, nothing else: a CronJob's process is
    # gone before any scrape, so counters kept here could never be read. Kubernetes records
    # the exit status on the Job (kube_job_status_failed), and the log keeps the report.
    to_stdout = str(arguments.report) == "-"
    if to_stdout:
        print(json.dumps(document, ensure_ascii=False), flush=True)
    else:
        arguments.report.write_text(
            json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8"
        )
    # With the report on stdout, the summary goes to stderr so stdout stays one JSON line.
    out = sys.stderr if to_stdout else sys.stdout
    summary = document["summary"]
    print(f"audit of {report.source}: {document['verdict']}", file=out)
    print(
        f"  envelopes {report.envelopes:,} in {report.elapsed_s:.1f} s ({document['envelopes_per_s'] or 0:,}/s)",
        file=out,
    )
    if summary:
        print(
            f"  parties {summary['parties']}, batches {summary['batches']}; t-CO2 issued {summary['issued_t']}, "
            f"retired {summary['retired_t']}, cancelled {summary['cancelled_t']}",
            file=out,
        )
        print(
            f"  checkpoints verified {summary['checkpoints_verified']}; "
            f"Merkle root {summary['root'][:16]}… at size {summary['tree_size']}",
            file=out,
        )
    for note in report.notes:
        print(f"  note: {note}", file=out)
    for discrepancy in document["discrepancies"][:20]:
        event = f" [{discrepancy['event']}]" if discrepancy["event"] else ""
        print(
            f"  DISCREPANCY at position {discrepancy['position']}{event}: {discrepancy['reason']}",
            file=out,
        )
    if len(document["discrepancies"]) > 20:
        print(f"  … {len(document['discrepancies']) - 20} more in the report", file=out)
    if report.stopped is not None:
        print(f"  stopped at {report.stopped.position}: {report.stopped.reason}", file=out)
    print(f"  report: {'stdout' if to_stdout else arguments.report}", file=out)
    return 0 if report.clean else 1


def _export(arguments: argparse.Namespace) -> int:
    source = _source(arguments)
    count = export_history(source, arguments.out)
    print(
        f"exported {count} envelopes and {len(source.checkpoints)} checkpoints to {arguments.out}"
    )
    return 0


def _prove(arguments: argparse.Namespace) -> int:
    source = _source(arguments)
    if arguments.position:
        document = inclusion_document(source, arguments.position, arguments.checkpoint_size)
    else:
        document = consistency_document(source, *arguments.consistency)
    arguments.out.write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    print(
        f"wrote {document['kind']} proof to {arguments.out}; check it with: "
        f"python3 registry/transparency/proof_verifier.py {arguments.out} <registry public key hex>"
    )
    return 0


def _checkpoint(arguments: argparse.Namespace) -> int:
    home = Home(arguments.home)
    key = SigningKey.load(
        home.registry_key_path, passphrase(REGISTRY_PASSPHRASE_VARIABLE, "the registry key")
    )
    app = RegistryApplication(
        arguments.database_url or home.database_url,
        key,
        pinned_registry_keys=home.root_registry_keys(),
        snapshot_interval=None,
    )
    checkpoint = app.record_checkpoint()
    print(f"checkpoint at tree size {checkpoint.tree_size}: root {checkpoint.root.hex()}")
    return 0
