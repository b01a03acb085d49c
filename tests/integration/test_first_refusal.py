"""The first refusal stands: the same signed bytes sent again within their lifetime get the
same refusal, on every replica, even after the state that refused them has changed. Two
replicas share one event store, as in production."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from registry.domain import commands as c
from registry.domain import rules
from registry.domain.checks import CheckCode
from registry.envelope.keys import SigningKey
from registry.support.clock import now_us
from registry.write import refusals
from registry.write.application import RegistryApplication
from registry.write.persistence import CHAIN_ID
from tests.support.helpers import AKISHIMA, IWAIZUMI, build_world

DATABASES = ["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


def _stored(app: RegistryApplication) -> int:
    return len(app.recorder.select_events(CHAIN_ID))


def test_a_refused_command_resent_after_funds_arrive_is_refused_again_on_every_replica(
    database_url: str, registry_key: SigningKey
) -> None:
    world = build_world(RegistryApplication(database_url, registry_key))
    other_replica = RegistryApplication(database_url, registry_key)
    transfer = world.signer(IWAIZUMI).sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 700))
    first = world.app.submit(transfer)
    assert first.code is CheckCode.INSUFFICIENT_HOLDINGS, first
    assert "holds 0 kg" in first.message
    world.issue(1_000, IWAIZUMI)  # the funds arrive
    before = _stored(world.app)
    for replica in (world.app, other_replica, world.app):
        again = replica.submit(transfer)
        assert (again.accepted, again.code, again.message) == (False, first.code, first.message)
    assert _stored(world.app) == before  # nothing recorded
    assert world.app.ledger.tradable_kg(AKISHIMA) == 0
    # A new command, signed now, is decided against the state as it is.
    fresh = world.signer(IWAIZUMI).sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 700))
    assert other_replica.submit(fresh).accepted


def test_a_refusal_of_bytes_with_a_forged_signature_is_not_kept(
    sqlite_url: str, registry_key: SigningKey
) -> None:
    """Nobody can make a refusal stick to a command they did not sign: only refusals of
    authentic commands are kept."""
    world = build_world(RegistryApplication(sqlite_url, registry_key))
    transfer = world.signer(IWAIZUMI).sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 700))
    forged = dataclasses.replace(transfer, signature=SigningKey.generate().sign(b"x"))
    assert world.app.submit(forged).code is CheckCode.BAD_SIGNATURE
    world.issue(1_000, IWAIZUMI)
    assert world.app.submit(transfer).accepted


def test_transient_answers_are_not_kept(
    sqlite_url: str, registry_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(RegistryApplication(sqlite_url, registry_key))
    world.issue(1_000, IWAIZUMI)
    transfer = world.signer(IWAIZUMI).sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 100))
    # UNAVAILABLE: a replica whose clock is far behind the chain's time decides nothing.
    behind = RegistryApplication(
        sqlite_url, registry_key, clock_us=lambda: now_us() - 2 * rules.CLOCK_SKEW_US_MAX
    )
    assert behind.submit(transfer).code is CheckCode.CLOCK_BEHIND
    # CONFLICT: every attempt to store loses its race.
    losing = RegistryApplication(sqlite_url, registry_key)

    def always_lose(decided: object) -> None:
        raise refusals.LostRace("another writer won")

    monkeypatch.setattr(losing._group_store, "store", always_lose)
    monkeypatch.setattr("registry.write.application.time.sleep", lambda _seconds: None)
    assert losing.submit(transfer).code is CheckCode.CONFLICT
    result = world.app.submit(transfer)
    assert result.accepted, result
    assert world.app.ledger.tradable_kg(AKISHIMA) == 100


def test_kept_refusals_are_forgotten_after_their_command_expired(
    sqlite_url: str, registry_key: SigningKey
) -> None:
    clock = [now_us()]
    world = build_world(RegistryApplication(sqlite_url, registry_key, clock_us=lambda: clock[0]))
    signer = world.signer(IWAIZUMI)
    old = signer.command(c.TransferCredits(IWAIZUMI, AKISHIMA, 700), created_at_us=clock[0])
    assert world.app.submit(signer.sign_command(old)).code is CheckCode.INSUFFICIENT_HOLDINGS
    engine = sa.create_engine(sqlite_url)

    def kept_ids() -> set[str]:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(refusals.first_refusals.c.command_id))
            return {row.command_id for row in rows}

    assert kept_ids() == {old.command_id}
    clock[0] = old.expires_at_us + rules.FORGET_MARGIN_US + 1
    later = signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 900), created_at_us=clock[0])
    assert world.app.submit(later).code is CheckCode.INSUFFICIENT_HOLDINGS
    assert kept_ids() == {world.app.codec.decode_command(later.command_bytes).command_id}
