"""Random but reproducible histories for tests and benchmarks: many parties, batches,
partial transfers, retire-on-transfer, retirements, cancellations and refused commands;
and the same interleaved with the joint purchase and the partner exchange."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import date

from registry import reference
from registry.domain import commands as c
from registry.domain.events import Beneficiary
from registry.envelope.keys import SigningKey
from registry.scenario import fy2012, partners, tokyo62
from registry.support.clock import now_us
from tests.support.helpers import ISSUER, OPERATOR, PROJECT, World

MEMBERS = ("131016", "131121", "132012", "132039", "132071", "133086", "034835")


def random_history(
    world: World,
    commands: int,
    seed: int = 7,
    batch_size: int = 200,
    clock_us: Callable[[], int] | None = None,
) -> int:
    """Submit about `commands` commands in batches; returns how many were accepted.
    With `clock_us`, commands are created at that (simulated) time."""
    rng = random.Random(seed)
    for member in MEMBERS:
        if member not in world.keys:
            world.register(member, "municipality", member)
    accepted = 0
    pending: list[tuple[str, c.CommandBody]] = []
    for number in range(commands):
        roll = rng.random()
        if roll < 0.06 or number < 5:
            quantity_kg = rng.randint(1_000, 200_000)
            vintage = date(2011 + rng.randint(0, 2), 4, 1)
            body: c.CommandBody = c.IssueCredits(
                PROJECT, vintage, date(vintage.year + 1, 3, 31), quantity_kg, rng.choice(MEMBERS)
            )
            pending.append((ISSUER, body))
        elif roll < 0.75:
            sender, recipient = rng.sample(MEMBERS, 2)
            retire = (
                c.RetirementDetails(Beneficiary(recipient, recipient), "meeting_event", 2011)
                if rng.random() < 0.1
                else None
            )
            pending.append(
                (
                    sender,
                    c.TransferCredits(
                        sender, recipient, rng.randint(1, 40_000), None, f"t{number}", retire
                    ),
                )
            )
        elif roll < 0.92:
            holder = rng.choice(MEMBERS)
            details = c.RetirementDetails(
                Beneficiary(holder, holder), rng.choice(("facility", "meeting_event")), 2012
            )
            pending.append((holder, c.RetireCredits(holder, rng.randint(1, 20_000), details)))
        elif roll < 0.97:
            holder = rng.choice(MEMBERS)
            batches = world.app.ledger.party_batches.get(holder, ())
            if batches:
                pending.append(
                    (
                        ISSUER,
                        c.CancelCredits(
                            holder, rng.choice(batches), rng.randint(1, 5_000), "reversal"
                        ),
                    )
                )
        else:
            pending.append(
                (OPERATOR, c.TransferCredits(OPERATOR, rng.choice(MEMBERS), 1))
            )  # refused: no holdings
        if len(pending) >= batch_size or number == commands - 1:
            signed = [
                world.signer(actor).sign_command(
                    world.signer(actor).command(
                        body,
                        created_at_us=None if clock_us is None else clock_us(),
                    )
                )
                for actor, body in pending
            ]
            accepted += sum(result.accepted for result in world.app.submit_batch(signed))
            pending.clear()
    return accepted


# Deliveries programme_history adds to those of partners.commands() (FY2011-1 accepted,
# FY2011-2 rejected): one expired, one accepted and one left open, so credits stay pending.
OPEN_DELIVERY, OPEN_DELIVERY_KG = "FY2012-2", 4_000
DELIVERY_OUTCOMES = {
    "FY2011-1": "accepted",
    "FY2011-2": "rejected",
    "FY2012-1": "expired",
    OPEN_DELIVERY: None,
    "FY2012-3": "accepted",
}


def send(world: World, actor: str, bodies: Sequence[c.CommandBody]) -> None:
    """Submit one batch as `actor`; every command must be accepted."""
    signer = world.signer(actor)
    results = world.app.submit_batch([signer.sign(body) for body in bodies])
    assert [r.code for r in results] == [None] * len(bodies), (actor, results)


def programme_history(world: World, commands: int, seed: int = 7) -> int:
    """`random_history` (about `commands` commands, in five chunks) interleaved with the
    FY2011 joint purchase (factor table, pool bought into, meetings estimated and
    calculated, allocation, a retirement per meeting), the FY2012 pool after it (a split
    with remainders, the rest returned) and the partner models (local classes, a signed agreement,
    deliveries accepted, rejected, expired and one still pending, an aggregated issuance
    with its contributions). Every scenario command must be accepted; returns how many
    random commands were. Takes at least three seconds: a delivery must reach its deadline."""
    missing = [
        (m.code, "municipality", m.name_en)
        for m in reference.municipalities()
        if m.code not in world.keys
    ]
    missing += [party for party in partners.parties() if party[0] not in world.keys]
    for party_id, _role, _name in missing:
        world.keys[party_id] = SigningKey.generate()
    send(
        world,
        OPERATOR,
        [c.RegisterParty(p, role, name, world.keys[p].public_key) for p, role, name in missing],
    )
    assert (tokyo62.OPERATOR, tokyo62.PROVIDER) == (OPERATOR, ISSUER)  # one world, one cast
    send(
        world,
        tokyo62.PROVIDER,
        [c.RegisterProject(tokyo62.PROJECT_ID, "JVER", "Forest", "Japan", "FM", tokyo62.PROVIDER)],
    )
    chunk = commands // 5
    accepted = random_history(world, chunk, seed=seed)
    # Random commands stay out of the purchase: a random 1 kg transfer by the secretariat
    # (refused elsewhere, as it holds nothing) would succeed while it holds the pool.
    for actor, bodies in tokyo62.commands(tokyo62.plan_meetings(reference.emission_factors())):
        send(world, actor, bodies)
    accepted += random_history(world, chunk, seed=seed + 1)
    for actor, bodies in partners.commands():
        send(world, actor, bodies)
    soon_us = now_us() + 3_000_000  # room for a loaded machine between this and the proposal
    later_us = now_us() + 30 * 24 * 3600 * 1_000_000
    send(
        world,
        partners.IWAIZUMI,
        [
            c.ProposeDelivery(partners.AGREEMENT, "FY2012-1", 2012, 2_000, soon_us),
            c.ProposeDelivery(partners.AGREEMENT, OPEN_DELIVERY, 2012, OPEN_DELIVERY_KG, later_us),
            c.ProposeDelivery(partners.AGREEMENT, "FY2012-3", 2012, 3_000, later_us),
        ],
    )
    accepted += random_history(world, chunk, seed=seed + 2)
    send(world, partners.AKISHIMA, [c.ResolveDelivery("FY2012-3", "accepted")])
    accepted += random_history(world, chunk, seed=seed + 3)
    time.sleep(max(0.0, (soon_us - now_us()) / 1_000_000 + 0.01))
    send(world, partners.AKISHIMA, [c.ResolveDelivery("FY2012-1", "expired", "no answer")])
    accepted += random_history(world, commands - 4 * chunk, seed=seed + 4)
    # Last, the second pool (FY2012): it returns what is left to the secretariat, which
    # would then hold credits a random transfer of its could spend.
    for actor, bodies in fy2012.commands(fy2012.plan_meetings(reference.emission_factors())):
        send(world, actor, bodies)
    return accepted
