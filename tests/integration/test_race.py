"""Two application instances in two processes race to spend the same credits on one
database (a SQLite file, and the real PostgreSQL server). Exactly one spend may win."""

from __future__ import annotations

import multiprocessing
from datetime import date

import pytest

from registry.client.command_signer import CommandSigner
from registry.domain import commands as c
from registry.domain.checks import CheckCode
from registry.domain.invariants import invariant_violations
from registry.envelope.keys import SigningKey
from registry.write.application import RegistryApplication
from tests.support.helpers import AKISHIMA, IWAIZUMI, MUSASHINO, PROJECT, build_world

ROUNDS = 12


def _spender(
    url: str, registry_seed: bytes, key_seed: bytes, recipient: str, start, results
) -> None:  # type: ignore[no-untyped-def]
    app = RegistryApplication(url, SigningKey.from_seed(registry_seed))
    signer = CommandSigner(app.codec, IWAIZUMI, SigningKey.from_seed(key_seed))
    for round_number in range(ROUNDS):
        start.wait()  # both processes leave the barrier together, every round
        batch_id = f"JVER-{PROJECT}-20110401-20120331-{round_number + 1:03d}"
        transfer = c.TransferCredits(IWAIZUMI, recipient, 60, batch_id, f"round {round_number}")
        result = app.submit(signer.sign(transfer))
        results.put(
            (
                round_number,
                recipient,
                result.accepted,
                result.code.name if result.code else None,
                app.lost_races,
            )
        )
        start.wait()


def run_race(url: str) -> None:
    registry_seed, key_seed = bytes(range(32)), bytes(range(1, 33))
    registry_key = SigningKey.from_seed(registry_seed)
    world = build_world(RegistryApplication(url, registry_key))
    iwaizumi_key = SigningKey.from_seed(key_seed)
    world.ok(IWAIZUMI, c.RotateKey(IWAIZUMI, world.keys[IWAIZUMI].key_id, iwaizumi_key.public_key))
    world.keys[IWAIZUMI] = iwaizumi_key
    for _ in range(ROUNDS):  # one 100 kg batch per round: only one 60 kg spend of it fits
        world.ok(
            "jver-provider",
            c.IssueCredits(PROJECT, date(2011, 4, 1), date(2012, 3, 31), 100, IWAIZUMI),
        )

    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    results = context.Queue()
    processes = [
        context.Process(
            target=_spender, args=(url, registry_seed, key_seed, recipient, start, results)
        )
        for recipient in (AKISHIMA, MUSASHINO)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in range(2 * ROUNDS)]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0

    accepted = [o for o in outcomes if o[2]]
    print(
        "lost races (commit retried after a conflict):",
        sum(o[4] for o in outcomes if o[0] == ROUNDS - 1),
    )
    refused = [o for o in outcomes if not o[2]]
    assert sorted(o[0] for o in accepted) == list(range(ROUNDS))  # one winner per round
    assert {o[3] for o in refused} <= {
        CheckCode.INSUFFICIENT_HOLDINGS.name,
        CheckCode.CONFLICT.name,
    }
    final = RegistryApplication(url, registry_key)
    spent_kg = final.ledger.tradable_kg(AKISHIMA) + final.ledger.tradable_kg(MUSASHINO)
    assert spent_kg == 60 * ROUNDS
    assert final.ledger.tradable_kg(IWAIZUMI) == 40 * ROUNDS
    assert invariant_violations(final.ledger) == []


def test_race_on_sqlite_file(sqlite_url: str) -> None:
    run_race(sqlite_url)


@pytest.mark.postgres
def test_race_on_postgresql(postgres_url: str) -> None:
    run_race(postgres_url)


class StaleOnce(RegistryApplication):
    """Skips one catch-up, as if another replica wrote between our read and our write."""

    name = "Registry"  # the same tables as the application it impersonates
    skip_next_catch_up = False

    def catch_up(self) -> int:
        if self.skip_next_catch_up:
            self.skip_next_catch_up = False
            return 0
        return super().catch_up()


def run_stale_writer(url: str) -> None:
    registry_key = SigningKey.generate()
    world = build_world(RegistryApplication(url, registry_key))
    world.issue(100, IWAIZUMI)
    stale = StaleOnce(url, registry_key)
    world.ok(IWAIZUMI, c.TransferCredits(IWAIZUMI, AKISHIMA, 60))  # written by the other instance
    stale.skip_next_catch_up = True
    result = stale.submit(world.signer(IWAIZUMI).sign(c.TransferCredits(IWAIZUMI, MUSASHINO, 60)))
    assert stale.lost_races == 1  # its first commit hit the unique (stream, position) constraint
    assert result.code is CheckCode.INSUFFICIENT_HOLDINGS  # re-decided against the winner's state
    assert stale.ledger.tradable_kg(MUSASHINO) == 0
    assert RegistryApplication(url, registry_key).ledger.tradable_kg(IWAIZUMI) == 40


def test_stale_writer_loses_on_sqlite(sqlite_url: str) -> None:
    run_stale_writer(sqlite_url)


@pytest.mark.postgres
def test_stale_writer_loses_on_postgresql(postgres_url: str) -> None:
    run_stale_writer(postgres_url)
