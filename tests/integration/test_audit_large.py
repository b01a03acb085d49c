"""A clean history of 100,000 events audits clean, streaming, on every core."""

from __future__ import annotations

from pathlib import Path

from registry.audit.auditor import Auditor
from registry.audit.export import write_export
from registry.audit.sources import DatabaseSource, ExportSource
from registry.envelope.keys import SigningKey
from registry.write.application import RegistryApplication
from tests.support.helpers import build_world
from tests.support.history import random_history

EVENTS = 100_000


def test_a_hundred_thousand_events_audit_clean(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.sqlite'}?timeout=30"
    world = build_world(RegistryApplication(url, SigningKey.generate()))
    seed = 1
    while world.app.ledger.position < EVENTS:
        random_history(
            world,
            min(20_000, EVENTS - world.app.ledger.position + 100),
            seed=seed,
            batch_size=1_000,
        )
        seed += 1
    source = DatabaseSource(url)
    export = tmp_path / "history.avro"
    write_export(
        export,
        ((e.body.position, e.sealed_bytes) for e in source.items()),
        source.checkpoints,
        {"envelopes": str(source.total)},
    )
    report = Auditor(world.app.registry_public_keys, progress=False).run(ExportSource(export))
    assert report.clean, report.discrepancies[:5]
    assert report.envelopes == world.app.ledger.position >= EVENTS
    assert report.summary["checkpoints_verified"] == world.app.ledger.position // 1_000
    assert report.summary["root"] == world.app.tree.root().hex()
