"""Random but reproducible histories for tests and benchmarks: many parties, batches,
partial transfers, retire-on-transfer, retirements, cancellations and refused commands."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date

from registry.domain import commands as c
from registry.domain.events import Beneficiary
from tests.helpers import ISSUER, OPERATOR, PROJECT, World

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
