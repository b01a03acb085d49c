"""The baseline for ingest: a plain eventsourcing application, the kind one writes in an
afternoon, committing the same transfers one per transaction: two account aggregates, one
event each, no signatures, no envelopes, no Kafka. Same database server as the registry."""

from __future__ import annotations

import time
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from tests.bench.report import percentile_us

OPENING_BALANCE_KG = 10**12


class Account(Aggregate):
    @staticmethod
    def create_id(party_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"account/{party_id}")

    @event("Opened")
    def __init__(self, party_id: str, balance_kg: int) -> None:
        self.party_id = party_id
        self.balance_kg = balance_kg

    @event("Debited")
    def debit(self, quantity_kg: int, transfer_id: str) -> None:
        assert self.balance_kg >= quantity_kg, "insufficient balance"
        self.balance_kg -= quantity_kg

    @event("Credited")
    def credit(self, quantity_kg: int, transfer_id: str) -> None:
        self.balance_kg += quantity_kg


class PlainTransfers(Application[UUID]):
    name = "PlainTransfers"


def run(database_url: str, transfers: int) -> dict[str, Any]:
    app = PlainTransfers(
        env={
            "PERSISTENCE_MODULE": "eventsourcing_sqlalchemy",
            "SQLALCHEMY_URL": database_url,
            "CREATE_TABLE": "y",
        }
    )
    parties = ("131016", "131121", "132039", "132071")
    accounts = [Account(party_id, OPENING_BALANCE_KG) for party_id in parties]
    app.save(*accounts)
    latencies_us: list[float] = []
    started_s = time.perf_counter()
    for number in range(transfers):
        sender = accounts[number % 2]
        recipient = accounts[2 + number % 2]
        began_ns = time.perf_counter_ns()
        sender.debit(1 + number % 50, f"t{number}")
        recipient.credit(1 + number % 50, f"t{number}")
        app.save(sender, recipient)  # one transfer, one transaction
        latencies_us.append((time.perf_counter_ns() - began_ns) / 1_000)
    elapsed_s = time.perf_counter() - started_s
    app.close()
    return {
        "transfers": transfers,
        "elapsed_s": elapsed_s,
        "transfers_per_s": transfers / elapsed_s,
        "p50_us": percentile_us(latencies_us, 50),
        "p99_us": percentile_us(latencies_us, 99),
    }
