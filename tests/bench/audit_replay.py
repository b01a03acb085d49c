"""Benchmark: audit replay rate next to a bare single-core Ed25519 verify loop over the
same history's signatures, measured in the same run; peak memory. Asserts nothing.

    .venv/bin/python -m tests.bench.audit_replay --events 100000 [--export FILE]

Generates a history (or reuses an export file), exports it, and audits the export."""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from registry.application import RegistryApplication
from registry.audit.auditor import Auditor
from registry.audit.export import write_export
from registry.audit.sources import DatabaseSource, ExportSource
from registry.envelope import OpenedEnvelope
from registry.signing import SigningKey, verify
from tests.helpers import build_world
from tests.history import random_history


def bare_verify_loop(source: ExportSource, public_keys: dict[str, bytes], limit: int) -> float:
    """Ed25519 verifications per second on one core: the registry countersignatures."""
    items = []
    for item in source.items():
        if isinstance(item, OpenedEnvelope):
            items.append(
                (public_keys[item.registry_key_id], item.registry_signature, item.body_bytes)
            )
        if len(items) >= limit:
            break
    started = time.perf_counter()
    for public_key, signature, message in items:
        assert verify(public_key, signature, message)
    return len(items) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--export",
        type=Path,
        help="audit this export (with --registry-public-key) instead of generating",
    )
    parser.add_argument("--registry-public-key")
    parser.add_argument("--keep", type=Path, help="keep the generated export here")
    parser.add_argument("--json", type=Path, default=Path("bench-audit.json"))
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-audit-") as directory:
        if arguments.export:
            export = arguments.export
            public = bytes.fromhex(arguments.registry_public_key)
            keys = {SigningKey.key_id_of(public): public}
        else:
            url = f"sqlite:///{directory}/registry.sqlite?timeout=30"
            key = SigningKey.generate()
            world = build_world(RegistryApplication(url, key))
            seed = 1
            while world.app.ledger.position < arguments.events:
                random_history(
                    world,
                    min(20_000, arguments.events - world.app.ledger.position + 100),
                    seed=seed,
                    batch_size=1_000,
                )
                seed += 1
            world.app.record_checkpoint()
            export = arguments.keep or Path(directory) / "history.avro"
            source = DatabaseSource(url)
            write_export(
                export,
                ((e.body.position, e.sealed_bytes) for e in source.items()),
                source.checkpoints,
                {"envelopes": str(source.total)},
            )
            keys = world.app.registry_public_keys
            print(
                f"generated {world.app.ledger.position} events; registry key {key.public_key.hex()}"
            )

        verify_rate = bare_verify_loop(ExportSource(export), keys, 20_000)
        report = Auditor(keys, progress=False).run(ExportSource(export))
        assert report.clean, report.discrepancies[:3]
        rate = report.envelopes / report.elapsed_s

    peak_self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "envelopes": report.envelopes,
        "audit_envelopes_per_s": round(rate),
        "bare_single_core_verifies_per_s": round(verify_rate),
        "audit_ratio_to_verify_loop": round(rate / verify_rate, 3),
        "audit_s": round(report.elapsed_s, 1),
        "peak_rss_main_mb": round(peak_self_mb),
        "peak_rss_largest_worker_mb": round(peak_children_mb),
    }
    width = max(map(len, results))
    for name, value in results.items():
        print(f"{name:<{width}}  {value}")
    arguments.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
