"""Replay verification of a recorded history: clean when untouched, and precise when not."""

from __future__ import annotations

from registry.audit.replay import verify_history
from registry.domain import commands as c
from registry.envelope.sealing import OpenedEnvelope, open_sealed
from tests.support.helpers import AKISHIMA, IWAIZUMI, World, retirement


def history(world: World) -> list[OpenedEnvelope]:
    world.issue(10_000, IWAIZUMI)
    for _ in range(5):
        world.ok(IWAIZUMI, c.TransferCredits(IWAIZUMI, AKISHIMA, 500))
    world.ok(AKISHIMA, c.RetireCredits(AKISHIMA, 700, retirement("Akishima")))
    return list(world.app.read_envelopes())


def test_clean_history_verifies_and_rebuilds_balances(world: World) -> None:
    envelopes = history(world)
    report = verify_history(envelopes, world.app.registry_public_keys)
    assert report.clean, report.discrepancies
    assert report.envelopes == len(envelopes)
    assert report.ledger.holdings == world.app.ledger.holdings


def test_each_tampering_names_its_position(world: World) -> None:
    envelopes = history(world)
    keys = world.app.registry_public_keys
    schemas = world.app.codec.schemas
    flipped = bytearray(envelopes[11].sealed_bytes)
    flipped[len(flipped) // 2] ^= 0x01
    cases = {
        "flipped byte": [*envelopes[:11], open_sealed(schemas, bytes(flipped))]
        if _decodes(schemas, flipped)
        else None,
        "deleted event": envelopes[:11] + envelopes[12:],
        "swapped events": [*envelopes[:11], envelopes[12], envelopes[11], *envelopes[13:]],
        "duplicated event": [*envelopes[:12], envelopes[11], *envelopes[12:]],
    }
    for name, tampered in cases.items():
        if tampered is None:
            continue
        report = verify_history(tampered, keys)
        assert not report.clean, name
        assert report.discrepancies[0].position in (12, 13), (name, report.discrepancies)


def _decodes(schemas: object, data: bytearray) -> bool:
    try:
        open_sealed(schemas, bytes(data))  # type: ignore[arg-type]
    except Exception:
        return False
    return True
