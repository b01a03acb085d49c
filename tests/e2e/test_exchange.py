"""Model II over real gRPC: an agreement both parties sign, deliveries accepted, rejected
and expired, an accept-versus-expire race that resolves each delivery exactly once, reserved
credits nobody can spend, the scheduled `deliveries expire-due` command, a stream of the
agreement's events, and the yearly statement. Model III checks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from registry.api.credit_registry.v1 import registry_pb2 as pb
from registry.cli.deliveries import ALREADY_RESOLVED, EXPIRED, expire_one
from registry.client.grpc_client import CommandRejected, RegistryClient
from registry.domain import commands as c
from registry.domain.checks import CheckCode
from registry.domain.events import Beneficiary, DeliveryResolved
from registry.domain.invariants import invariant_violations
from registry.envelope.sealing import open_sealed
from registry.service.server import RegistryServer
from registry.support.clock import now_us
from tests.e2e.grpc_world import GrpcWorld, build_grpc_world, issue
from tests.support.helpers import AKISHIMA, IWAIZUMI, MUSASHINO, OPERATOR

AGREEMENT = "AKISHIMA-IWAIZUMI-FOREST"
KEY_PASSPHRASE = "correct horse"
TERMS = dict(
    agreement_id=AGREEMENT,
    provider_id=IWAIZUMI,
    user_id=AKISHIMA,
    start_date=date(2011, 12, 20),
    term_years=5,
    expected_annual_kg=10_000,
    purpose="Forest conservation: Iwaizumi's town forest offsets Akishima's residual CO2",
)


@pytest.fixture
def world(client: RegistryClient) -> GrpcWorld:
    world = build_grpc_world(client)
    issue(world, 50_000, IWAIZUMI)
    client.execute(world.signer(IWAIZUMI), c.SignAgreement(**TERMS))  # type: ignore[arg-type]
    client.execute(world.signer(AKISHIMA), c.SignAgreement(**TERMS))  # type: ignore[arg-type]
    return world


def code_of(call) -> CheckCode | None:  # type: ignore[no-untyped-def]
    try:
        call()
    except CommandRejected as rejection:
        return rejection.code
    return None


def propose(world: GrpcWorld, delivery_id: str, quantity_kg: int, deadline_s: float = 3600) -> int:
    body = c.ProposeDelivery(
        AGREEMENT, delivery_id, 2011, quantity_kg, now_us() + int(deadline_s * 1_000_000)
    )
    return int(world.client.execute(world.signer(IWAIZUMI), body).position)


def test_agreement_needs_both_signatures_on_the_same_terms(client: RegistryClient) -> None:
    world = build_grpc_world(client)
    issue(world, 1_000, IWAIZUMI)
    client.execute(world.signer(IWAIZUMI), c.SignAgreement(**TERMS))  # type: ignore[arg-type]
    early = c.ProposeDelivery(AGREEMENT, "D0", 2011, 10, now_us() + 10**9)
    assert (
        code_of(lambda: client.execute(world.signer(IWAIZUMI), early))
        is CheckCode.AGREEMENT_NOT_IN_FORCE
    )
    other_terms = c.SignAgreement(**{**TERMS, "expected_annual_kg": 20_000})  # type: ignore[arg-type]
    assert (
        code_of(lambda: client.execute(world.signer(AKISHIMA), other_terms))
        is CheckCode.AGREEMENT_TERMS_DIFFER
    )
    assert (
        code_of(lambda: client.execute(world.signer(MUSASHINO), c.SignAgreement(**TERMS)))
        is CheckCode.NOT_THE_OWNER
    )  # type: ignore[arg-type]
    client.execute(world.signer(AKISHIMA), c.SignAgreement(**TERMS))  # type: ignore[arg-type]
    assert client.execute(world.signer(IWAIZUMI), early).accepted


def test_accepted_rejected_and_expired_deliveries(
    world: GrpcWorld, client: RegistryClient, server: RegistryServer
) -> None:
    propose(world, "D1", 12_000)
    accepted = client.execute(world.signer(AKISHIMA), c.ResolveDelivery("D1", "accepted"))
    propose(world, "D2", 3_000)
    client.execute(world.signer(AKISHIMA), c.ResolveDelivery("D2", "rejected", "not this year"))
    propose(world, "D3", 2_000, deadline_s=3.0)  # generous: a loaded machine must not pass it early
    assert (
        code_of(lambda: client.execute(world.signer(IWAIZUMI), c.ResolveDelivery("D3", "expired")))
        is CheckCode.DELIVERY_NOT_DUE
    )
    time.sleep(3.3)
    assert (
        code_of(lambda: client.execute(world.signer(AKISHIMA), c.ResolveDelivery("D3", "accepted")))
        is CheckCode.DELIVERY_EXPIRED
    )
    expired = client.execute(world.signer(IWAIZUMI), c.ResolveDelivery("D3", "expired"))
    assert (
        code_of(lambda: client.execute(world.signer(AKISHIMA), c.ResolveDelivery("D1", "rejected")))
        is CheckCode.DELIVERY_RESOLVED
    )
    residual = c.RetirementDetails(
        Beneficiary("Akishima city", AKISHIMA),
        "residual_emissions",
        2011,
        "",
        f"agreement:{AGREEMENT}",
    )
    retired = client.execute(world.signer(AKISHIMA), c.RetireCredits(AKISHIMA, 10_000, residual))

    assert client.balance(AKISHIMA, min_position=retired.position).tradable_kg == 2_000
    assert client.balance(IWAIZUMI, min_position=expired.position).tradable_kg == 38_000
    statement = client.statement(AGREEMENT, 2011, min_position=retired.position)
    assert (
        statement.delivered_kg,
        statement.accepted_kg,
        statement.rejected_kg,
        statement.expired_kg,
        statement.pending_kg,
    ) == (17_000, 12_000, 3_000, 2_000, 0)
    assert (
        statement.retired_by_user_kg == 10_000
        and statement.in_force
        and statement.expected_annual_kg == 10_000
    )
    assert accepted.position < retired.position
    assert invariant_violations(server.app.ledger) == []


def test_deliveries_stay_within_the_term_and_the_statement_compares_expected_absorption(
    world: GrpcWorld, client: RegistryClient
) -> None:
    # Signed on 2011-12-20 for 5 years: FY2011 (which 2011-12-20 falls in) to FY2015.
    deadline = now_us() + 3_600 * 1_000_000

    def propose_for(delivery_id: str, fiscal_year: int) -> CheckCode | None:
        body = c.ProposeDelivery(AGREEMENT, delivery_id, fiscal_year, 4_000, deadline)
        return code_of(lambda: client.execute(world.signer(IWAIZUMI), body))

    assert propose_for("BEFORE", 2010) is CheckCode.OUTSIDE_AGREEMENT_TERM
    assert propose_for("AFTER", 2016) is CheckCode.OUTSIDE_AGREEMENT_TERM
    assert propose_for("LAST", 2015) is None
    assert propose_for("FIRST", 2011) is None
    client.execute(world.signer(AKISHIMA), c.ResolveDelivery("FIRST", "accepted"))
    accepted = client.execute(world.signer(AKISHIMA), c.ResolveDelivery("LAST", "accepted"))
    first = client.statement(AGREEMENT, 2011, min_position=accepted.position)
    assert (first.in_term, first.expected_kg, first.accepted_kg, first.difference_kg) == (
        True,
        10_000,
        4_000,
        -6_000,  # a shortfall against the expected annual absorption
    )
    after = client.statement(AGREEMENT, 2016, min_position=accepted.position)
    assert (after.in_term, after.expected_kg, after.delivered_kg) == (False, 0, 0)
    assert after.expected_annual_kg == 10_000  # the agreement's figure, whatever the year


def test_reserved_credits_cannot_be_spent_by_the_provider(
    world: GrpcWorld, client: RegistryClient
) -> None:
    proposed = propose(world, "D1", 45_000)  # 5,000 kg stay tradable
    reserved = client.balance(IWAIZUMI, min_position=proposed)
    assert (reserved.tradable_kg, reserved.pending_kg) == (5_000, 45_000)
    assert client.statement(AGREEMENT, 2011, min_position=proposed).pending_kg == 45_000
    assert (
        code_of(lambda: client.transfer(world.signer(IWAIZUMI), MUSASHINO, 6_000))
        is CheckCode.INSUFFICIENT_HOLDINGS
    )
    details = c.RetirementDetails(Beneficiary("Iwaizumi"), "voluntary", 2011)
    assert (
        code_of(lambda: client.retire(world.signer(IWAIZUMI), 6_000, details))
        is CheckCode.INSUFFICIENT_HOLDINGS
    )
    assert client.transfer(world.signer(IWAIZUMI), MUSASHINO, 5_000).accepted
    pending = client.balance(
        IWAIZUMI,
        min_position=client.execute(
            world.signer(AKISHIMA), c.ResolveDelivery("D1", "rejected")
        ).position,
    )
    assert (pending.tradable_kg, pending.pending_kg) == (45_000, 0)


def test_accept_and_expire_racing_resolve_each_delivery_once(
    world: GrpcWorld, client: RegistryClient, server: RegistryServer
) -> None:
    pairs = 12
    deadline = now_us() + 1_500_000
    step_us = 20_000
    deliveries = [f"R{index:02d}" for index in range(pairs)]
    for index, delivery in enumerate(deliveries):
        body = c.ProposeDelivery(AGREEMENT, delivery, 2011, 100, deadline + index * step_us)
        world.client.execute(world.signer(IWAIZUMI), body)
    time.sleep(max(0.0, (deadline - now_us()) / 1_000_000 - 0.1))  # arrive around the deadlines
    outcomes: dict[str, list[CheckCode | None]] = {delivery: [] for delivery in deliveries}
    lock = threading.Lock()

    def resolve(party: str, outcome: str) -> None:
        with RegistryClient(f"127.0.0.1:{server.port}") as own:
            for delivery in deliveries:
                body = c.ResolveDelivery(delivery, outcome)
                result = code_of(lambda body=body: own.execute(world.signer(party), body))
                with lock:
                    outcomes[delivery].append(result)

    threads = [
        threading.Thread(target=resolve, args=(AKISHIMA, "accepted")),
        threading.Thread(target=resolve, args=(IWAIZUMI, "expired")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for delivery, results in outcomes.items():
        assert len(results) == 2 and results.count(None) <= 1, (delivery, results)

    # Both racers can lose (an accept that arrives after the deadline, an expiry before it):
    # once every deadline has passed, the operator expires what is left, as the scheduled
    # `deliveries expire-due` does. Each delivery is then resolved exactly once, whoever
    # got there first; the ones a racer resolved are answered DELIVERY_RESOLVED.
    last_deadline_us = deadline + (pairs - 1) * step_us
    time.sleep(max(0.0, (last_deadline_us - now_us()) / 1_000_000) + 0.05)
    for delivery in deliveries:
        late = expire_one(
            client, world.signer(OPERATOR), pb.Delivery(delivery_id=delivery), "left over"
        )
        raced = outcomes[delivery].count(None)
        assert late.outcome == (ALREADY_RESOLVED if raced else EXPIRED), (delivery, late)

    ledger = server.app.ledger
    outcome_of = {delivery: ledger.deliveries[delivery].outcome for delivery in deliveries}
    assert all(outcome in ("accepted", "expired") for outcome in outcome_of.values()), outcome_of
    resolved_events: dict[str, list[str]] = {delivery: [] for delivery in deliveries}
    head = 0
    for record in client.stream_events():
        head = record.position
        for effect in open_sealed(world.codec.schemas, record.sealed_envelope).body.effects:
            event = world.codec.decode_event(effect)
            if isinstance(event, DeliveryResolved) and event.delivery_id in resolved_events:
                resolved_events[event.delivery_id].append(event.outcome)
    assert resolved_events == {delivery: [outcome_of[delivery]] for delivery in deliveries}
    projected = client.deliveries(IWAIZUMI, AGREEMENT, min_position=head).deliveries
    assert {d.delivery_id: d.outcome for d in projected} == outcome_of
    assert invariant_violations(ledger) == []
    moved = sum(100 for outcome in outcome_of.values() if outcome == "accepted")
    assert ledger.tradable_kg(AKISHIMA) == moved
    assert ledger.tradable_kg(IWAIZUMI) == 50_000 - moved


def expire_due(
    server: RegistryServer, home: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """The scheduled command as an operator's cron runs it: a process of its own."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "registry.cli",
            "--home",
            str(home),
            "--server",
            f"127.0.0.1:{server.port}",
            "deliveries",
            "expire-due",
            *options,
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, CREDIT_REGISTRY_PASSPHRASE=KEY_PASSPHRASE),
        timeout=120,
    )


def test_expire_due_releases_deliveries_past_their_deadline_once(
    world: GrpcWorld, client: RegistryClient, server: RegistryServer, tmp_path: Path
) -> None:
    propose(world, "LATE", 20_000, deadline_s=2.0)
    propose(world, "ANSWERED", 1_000, deadline_s=2.0)
    client.execute(world.signer(AKISHIMA), c.ResolveDelivery("ANSWERED", "accepted"))
    last = propose(world, "LATER", 5_000)  # an hour to answer: not due
    reserved = client.balance(IWAIZUMI, min_position=last)
    assert (reserved.tradable_kg, reserved.pending_kg) == (24_000, 25_000)
    key_file = tmp_path / "secrets" / "iwaizumi.key"
    world.keys[IWAIZUMI].save(key_file, KEY_PASSPHRASE.encode())
    home = tmp_path / "home"
    world.keys[IWAIZUMI].save(home / "keys" / f"{IWAIZUMI}.key", KEY_PASSPHRASE.encode())
    world.keys[MUSASHINO].save(home / "keys" / f"{MUSASHINO}.key", KEY_PASSPHRASE.encode())
    time.sleep(2.3)

    # A party to none of the deliveries is refused by the rules; the run exits 1 so that a
    # scheduler reports it, and nothing is recorded.
    stranger = expire_due(server, home, "--as", MUSASHINO, "--all")
    assert stranger.returncode == 1, stranger.stdout + stranger.stderr
    assert "refused 1" in stranger.stdout and "NOT_THE_OWNER" in stranger.stderr
    assert max(record.position for record in client.stream_events()) == last

    first = expire_due(server, home, "--as", IWAIZUMI, "--key-file", str(key_file))
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert lines[-1] == (
        "due 1: expired 1, already resolved 0, not yet due 0, refused 0, failed 0"
    ), first.stdout
    assert len(lines) == 2 and lines[0].startswith("expired          LATE "), first.stdout
    position = int(lines[0].rsplit("at position ", 1)[1])
    released = client.balance(IWAIZUMI, min_position=position)
    assert (released.tradable_kg, released.pending_kg) == (44_000, 5_000)
    statement = client.statement(AGREEMENT, 2011, min_position=position)
    assert (statement.accepted_kg, statement.expired_kg, statement.pending_kg) == (
        1_000,
        20_000,
        5_000,
    )
    head = max(record.position for record in client.stream_events())
    assert head == position

    again = expire_due(server, home, "--as", IWAIZUMI)  # its key from --home this time
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines() == [
        "due 0: expired 0, already resolved 0, not yet due 0, refused 0, failed 0"
    ]
    assert max(record.position for record in client.stream_events()) == head
    assert client.balance(IWAIZUMI).tradable_kg == 44_000
    listed = client.deliveries(IWAIZUMI, min_position=head).deliveries
    assert {(d.delivery_id, d.outcome) for d in listed} == {
        ("LATE", "expired"),
        ("ANSWERED", "accepted"),
        ("LATER", ""),
    }


def test_the_agreement_stream_carries_only_its_events(
    world: GrpcWorld, client: RegistryClient
) -> None:
    propose(world, "D1", 1_000)
    client.transfer(world.signer(IWAIZUMI), MUSASHINO, 10)  # not about the agreement
    client.execute(world.signer(AKISHIMA), c.ResolveDelivery("D1", "accepted"))
    records = list(client.watch_agreement(AGREEMENT))
    assert [r.event_types for r in records] == [
        ["AgreementSigned"],
        ["AgreementSigned"],
        ["DeliveryProposed"],
        ["DeliveryResolved"],
    ]


def test_local_class_issuance_is_limited_to_its_issuers(client: RegistryClient) -> None:
    world = build_grpc_world(client)
    nerima, shinjuku = "131202", "131041"
    world.register(nerima, "municipality", "Nerima")
    world.register(shinjuku, "municipality", "Shinjuku")
    client.execute(
        world.signer(OPERATOR),
        c.RegisterCreditClass("NERIMAGREEN", "Nerima green conservation", (nerima,)),
    )
    client.execute(
        world.signer(nerima),
        c.RegisterProject(
            "IKOINOMORI",
            "NERIMAGREEN",
            "Ikoi-no-Mori woodland",
            "Nerima",
            "avoided development",
            nerima,
        ),
    )
    vintage = date(2012, 4, 1)
    forged = c.IssueCredits("IKOINOMORI", vintage, vintage, 1_000, shinjuku)
    assert (
        code_of(lambda: client.execute(world.signer(shinjuku), forged))
        is CheckCode.ISSUER_NOT_AUTHORISED
    )
    assert client.execute(
        world.signer(nerima), c.IssueCredits("IKOINOMORI", vintage, vintage, 1_000, nerima)
    ).accepted
