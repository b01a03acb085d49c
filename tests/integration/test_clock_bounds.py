"""One replica's clock cannot move the chain's time for everyone. Two replicas share one
event store (the same SQLite file, as replicas share one database): one with a wrong clock,
one honest. Commands are recorded within RECORDING_DELAY_US_MAX of their signed creation,
and a replica never adopts a recorded time more than CLOCK_BEHIND_US_MAX ahead of its own
clock."""

from __future__ import annotations

import re
from datetime import date

from prometheus_client import REGISTRY

from registry.audit.replay import verify_history
from registry.domain import commands as c
from registry.domain import rules
from registry.domain.checks import CheckCode
from registry.envelope.keys import SigningKey
from registry.support.clock import now_us
from registry.write.application import CLOCK_BEHIND_US_MAX, RegistryApplication
from registry.write.persistence import CHAIN_ID
from tests.support.helpers import AKISHIMA, IWAIZUMI, World, build_world

DAY_US = 24 * 3_600 * 1_000_000
MINUTE_US = 60 * 1_000_000
LONG = {"lifetime_us": 2 * DAY_US}  # a command signed to live two days


def _stored(app: RegistryApplication) -> int:
    return len(app.recorder.select_events(CHAIN_ID))


def _latest_recorded_us(app: RegistryApplication) -> int:
    return max(envelope.body.recorded_at_us for envelope in app.read_envelopes())


def test_a_replica_a_day_fast_records_nothing_and_the_others_keep_accepting(
    sqlite_url: str, registry_key: SigningKey
) -> None:
    world = build_world(RegistryApplication(sqlite_url, registry_key))
    world.issue(1_000, IWAIZUMI)
    fast = RegistryApplication(sqlite_url, registry_key, clock_us=lambda: now_us() + DAY_US)
    signer = world.signer(IWAIZUMI)
    before = _stored(world.app)
    # Ten-minute commands are expired by its clock; a command that lives two days is not,
    # and recorded a day ahead it would make every replica refuse fresh commands as expired.
    ten_minutes = fast.submit(signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 10)))
    assert ten_minutes.code is CheckCode.COMMAND_EXPIRED, ten_minutes
    for _ in range(3):
        refused = fast.submit(signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 10), **LONG))
        assert refused.code is CheckCode.COMMAND_STALE, refused
        assert "a command is recorded within 900 s" in refused.message
    assert _stored(world.app) == before  # nothing recorded, so the chain's time did not move
    assert _latest_recorded_us(world.app) <= now_us()
    accepted = world.app.submit(signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 10)))
    assert accepted.accepted, accepted  # not COMMAND_EXPIRED: the honest replica goes on
    assert world.app.ledger.tradable_kg(AKISHIMA) == 10
    # A refusal by the fast clock is not kept: the honest replica decides the same bytes anew.
    late = signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 5), **LONG)
    assert fast.submit(late).code is CheckCode.COMMAND_STALE
    assert world.app.submit(late).accepted


def test_a_history_far_ahead_of_a_replicas_clock_makes_it_unavailable_until_it_catches_up(
    sqlite_url: str, registry_key: SigningKey
) -> None:
    """A replica and a client both 30 minutes fast write within the bounds; an honest
    replica then refuses to decide at a time 30 minutes ahead of its own clock, says so,
    shows it in its gauge, and goes on once its clock has caught up."""
    world = build_world(RegistryApplication(sqlite_url, registry_key))
    world.issue(1_000, IWAIZUMI)
    ahead_us = 30 * MINUTE_US
    fast = RegistryApplication(sqlite_url, registry_key, clock_us=lambda: now_us() + ahead_us)
    signer = world.signer(IWAIZUMI)
    fast_client = signer.sign(
        c.TransferCredits(IWAIZUMI, AKISHIMA, 10), created_at_us=now_us() + ahead_us
    )
    assert fast.submit(fast_client).accepted
    honest_clock = [now_us()]
    honest = RegistryApplication(sqlite_url, registry_key, clock_us=lambda: honest_clock[0])
    before = _stored(honest)
    refused = honest.submit(signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 10)))
    assert refused.code is CheckCode.CLOCK_BEHIND, refused
    found = re.search(r"this replica's clock is ([\d.]+) s behind", refused.message)
    assert found, refused.message
    behind_s = float(found.group(1))
    assert 1_790 <= behind_s <= 1_800
    gauge = REGISTRY.get_sample_value("credit_registry_clock_behind_seconds")
    assert gauge is not None and 1_790 <= gauge <= 1_800
    assert _stored(honest) == before
    honest_clock[0] = _latest_recorded_us(honest) - CLOCK_BEHIND_US_MAX // 2  # caught up, nearly
    caught_up = honest.submit(
        signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 10), created_at_us=honest_clock[0])
    )
    assert caught_up.accepted, caught_up
    assert REGISTRY.get_sample_value("credit_registry_clock_behind_seconds") == (
        CLOCK_BEHIND_US_MAX // 2 / 1_000_000
    )


def _delivery(world: World, deadline_us: int) -> None:
    terms = c.SignAgreement("AGR-1", IWAIZUMI, AKISHIMA, date(2011, 12, 20), 10, 50_000, "forest")
    world.ok(IWAIZUMI, terms)
    world.ok(AKISHIMA, terms)
    world.ok(IWAIZUMI, c.ProposeDelivery("AGR-1", "D-1", 2011, 500, deadline_us))


def test_a_fast_replica_cannot_expire_a_delivery_early_beyond_the_recording_bound(
    sqlite_url: str, registry_key: SigningKey
) -> None:
    """The provider gets its reserved credits back when a delivery expires. Through a replica
    a day fast, an expiry signed now of a delivery due in an hour is stale, not executed;
    through an honest replica it is not due. The earliest it can run is bounded by the
    recording delay: the registry's time is never more than that after the signed creation."""
    world = build_world(RegistryApplication(sqlite_url, registry_key))
    world.issue(1_000, IWAIZUMI)
    deadline_us = now_us() + 3_600 * 1_000_000
    _delivery(world, deadline_us)
    fast = RegistryApplication(sqlite_url, registry_key, clock_us=lambda: now_us() + DAY_US)
    expire = world.signer(IWAIZUMI).sign(c.ResolveDelivery("D-1", "expired", "no answer"), **LONG)
    assert fast.submit(expire).code is CheckCode.COMMAND_STALE
    assert world.app.submit(expire).code is CheckCode.DELIVERY_NOT_DUE
    assert world.app.ledger.deliveries["D-1"].outcome is None
    assert world.app.ledger.tradable_kg(IWAIZUMI) == 500  # the other 500 kg stay reserved
    for envelope in world.app.read_envelopes():
        command = world.app.codec.decode_command(envelope.body.command.command_bytes)
        lag_us = envelope.body.recorded_at_us - command.created_at_us
        assert lag_us <= rules.RECORDING_DELAY_US_MAX
    report = verify_history(world.app.read_envelopes(), world.app.registry_public_keys)
    assert report.clean, report.discrepancies
