"""The main job: the FY2011 joint purchase of Tokyo's 62 municipalities, end to end
through the gRPC service on the embedded default (SQLite store, embedded log, projections
in-process; no servers to install), with a second, smaller FY2012 pool beside it. Prints
both pools' allocation tables and the audit verdict, checks that nothing after FY2011
changed a FY2011 figure, and writes each pool's report: text, CSV, a pie chart and one
verifiable certificate per meeting."""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from projections.queries import AllocationRow, AllocationTotals, MeetingView
from projections.queries import meetings as meeting_views
from registry import reference
from registry.api.credit_registry.v1 import registry_pb2 as pb
from registry.audit.auditor import Auditor, AuditReport
from registry.audit.proofs import inclusion_documents
from registry.audit.sources import DatabaseSource, ExportSource
from registry.audit.sources import export as export_history
from registry.client.command_signer import CommandSigner
from registry.client.grpc_client import CommandRejected, RegistryClient
from registry.domain import commands as c
from registry.domain.emissions import MeetingInputs
from registry.envelope.codec import Codec
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import SignedCommand
from registry.scenario import fy2012, partners, tokyo62
from registry.scenario.report import allocation_text, certificate, meetings_text, write_report
from registry.service.server import RegistryServer, ServerConfig
from registry.support.presentation import tonnes

PUBLISHED = {  # label: (events, kg), from the FY2011 report
    "wards": (29, 29_300),
    "cities": (15, 23_000),
    "towns and villages": (3, 7_700),
    "total": (47, 60_000),
    "project's own events": (33, 40_000),
    "all offsets": (80, 100_000),
}


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = commands.add_parser(
        "demo", help="the Tokyo 62 joint purchase end to end through gRPC on the embedded default"
    )
    demo.add_argument(
        "--out", type=Path, default=Path("demo-output"), help="where the report and certificates go"
    )
    demo.set_defaults(handler=_demo)


def _demo(arguments: argparse.Namespace) -> int:
    return run_demo(arguments.out)


class Parties:
    """Each party makes its own key; only public keys ever reach the registry."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self.codec = Codec()
        self.keys: dict[str, SigningKey] = {}

    def signer(self, party_id: str) -> CommandSigner:
        if party_id not in self.keys:
            self.keys[party_id] = SigningKey.generate()
        return CommandSigner(self.codec, party_id, self.keys[party_id])

    def send(self, actor: str, bodies: Sequence[c.CommandBody]) -> int:
        """One batch RPC per step; every command must be accepted. Returns the last position."""
        signer = self.signer(actor)
        last = 0
        for start in range(0, len(bodies), 500):
            results = self.client.send_batch(
                [signer.sign(body) for body in bodies[start : start + 500]]
            )
            refused = [r for r in results if not r.accepted]
            assert not refused, refused[0]
            last = results[-1].position
        return last

    def register(
        self, party_id: str, role: str, name: str, name_ja: str | None = None
    ) -> c.RegisterParty:
        return c.RegisterParty(party_id, role, name, self.signer(party_id).key.public_key, name_ja)


def run_demo(out: Path = Path("demo-output")) -> int:
    started_s = time.perf_counter()
    store = out / "store"  # kept: `credit-registry --home <out>/store web` browses it
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    registry_key = SigningKey.generate()
    (store / "registry-root.pub").write_text(registry_key.public_key.hex() + "\n", "utf-8")
    config = ServerConfig(
        "127.0.0.1:0",
        f"sqlite:///{store / 'registry.sqlite'}?timeout=30",
        f"sqlite:///{store / 'projections.sqlite'}",
        registry_key,
    )
    server = RegistryServer(config)
    server.start()
    try:
        with RegistryClient(f"127.0.0.1:{server.port}", timeout_s=60) as client:
            return _run(server, client, registry_key, config.database_url, out, started_s)
    finally:
        server.stop(grace_s=1)
        print(f"Browse it: credit-registry --home {store} web, then open http://127.0.0.1:8080/")


def _run(
    server: RegistryServer,
    client: RegistryClient,
    registry_key: SigningKey,
    database_url: str,
    out: Path,
    started_s: float,
) -> int:
    print(
        "credit-registry demo: the FY2011 Tokyo 62 joint carbon-offset purchase,"
        f" through gRPC on 127.0.0.1:{server.port}\n"
    )
    parties = Parties(client)
    _register_parties(parties)
    fy2011_before = client.allocation(tokyo62.POOL_ID, min_position=_joint_purchase(parties))
    _partners(parties)
    second = fy2012.plan_meetings(reference.emission_factors())
    _send_all(parties, fy2012.purchase(second))
    _refusals(parties)
    last = _send_all(parties, fy2012.split(second))
    server.app.record_checkpoint()
    fy2011_after = client.allocation(tokyo62.POOL_ID, min_position=last)
    row_views, total_views = _views(fy2011_after)
    print("\nAllocation across the 62 municipalities, FY2011 (from the projections):\n")
    print(allocation_text(row_views, total_views))
    matches = _compare_with_published(total_views)
    unchanged = _fy2011_unchanged(fy2011_before, fy2011_after)
    fy2012_table = client.allocation(fy2012.POOL_ID, min_position=last)
    _print_second_pool(fy2012_table, _meetings(server, fy2012.POOL_ID))

    source = DatabaseSource(database_url)
    for pool_id, pool_name, directory in (
        (tokyo62.POOL_ID, tokyo62.POOL_NAME, out),
        (fy2012.POOL_ID, fy2012.POOL_NAME, out / fy2012.POOL_ID),
    ):
        views = _meetings(server, pool_id)
        certificates = _certificates(views, source, registry_key, pool_name)
        rows, totals = _views(client.allocation(pool_id, min_position=last))
        title = f"{pool_name}: t-CO2 offset by group"
        write_report(directory, rows, totals, certificates, title, views)
    export = out / "history.avro"
    export_history(source, export)
    report = Auditor({registry_key.key_id: registry_key.public_key}, progress=False).run(
        ExportSource(export)
    )
    _print_outcome(out, registry_key, report)
    print(f"done in {time.perf_counter() - started_s:.1f} s")
    return 0 if report.clean and matches and unchanged else 1


def _send_all(parties: Parties, steps: Iterable[tuple[str, Sequence[c.CommandBody]]]) -> int:
    """Send every step; returns the last position."""
    last = 0
    for actor, bodies in steps:
        last = parties.send(actor, bodies)
    return last


def _register_parties(parties: Parties) -> None:
    """The secretariat first (it signs the other registrations), then everyone else."""
    operator = tokyo62.OPERATOR
    parties.send(
        operator,
        [
            parties.register(
                operator,
                "operator",
                "Green Tokyo project secretariat",
                "みどり東京・温暖化防止プロジェクト事務局",
            )
        ],
    )
    parties.send(
        operator,
        [
            parties.register(m.code, "municipality", m.name_en, m.name_ja)
            for m in reference.municipalities()
        ],
    )
    parties.send(
        operator,
        [
            parties.register(tokyo62.PROVIDER, "issuer", "J-VER offset provider"),
            c.RegisterCreditClass(
                "JVER", "J-VER (Japan Verified Emission Reduction)", (tokyo62.PROVIDER,)
            ),
        ],
    )
    parties.send(
        tokyo62.PROVIDER,
        [
            c.RegisterProject(
                tokyo62.PROJECT_ID,
                "JVER",
                "J-VER forest absorption project",
                "Japan",
                "J-VER forest management",
                tokyo62.PROVIDER,
            )
        ],
    )
    print(
        "1. registered the secretariat, 62 municipalities and Iwaizumi (one batch) and a J-VER provider;"
        " each made its own key"
    )


def _joint_purchase(parties: Parties) -> int:
    """Model IV: the factor table, the pool bought into, its meetings with their
    calculations, the split and the retirements. Returns the last position."""
    table = reference.emission_factors()
    meetings = tokyo62.plan_meetings(table)
    last = _send_all(parties, tokyo62.commands(meetings, table))
    members = len({m.organiser_id for m in meetings if m.group != "project"})
    print(
        f"2. factor table {table.version} registered ({len(table.factors)} factors, whole mg"
        f" CO2e per unit); pool {tokyo62.POOL_ID}: 100 t of J-VER bought into the pool's own"
        " holding;"
    )
    print(
        f"   {len(meetings)} meetings registered by {members} municipalities and the secretariat,"
        " each with an estimate before and a calculation after that the rules recomputed;"
    )
    print("   the pool was split by largest remainder and every share retired from the pool")
    return last


def _views(allocation: pb.AllocationResponse) -> tuple[list[AllocationRow], list[AllocationTotals]]:
    """A pool's table as the projections served it."""
    row_views = [
        AllocationRow(
            r.member_code,
            r.name_ja,
            r.name_en,
            r.kind,
            r.events_offset,
            r.allocated_kg,
            r.offset_kg,
            r.estimate_kg,
            r.calculated_kg,
        )
        for r in allocation.rows
    ]
    total_views = [
        AllocationTotals(
            s.label,
            s.members,
            s.participating,
            s.events_offset,
            s.allocated_kg,
            s.offset_kg,
            s.estimate_kg,
            s.calculated_kg,
        )
        for s in allocation.totals
    ]
    return row_views, total_views


def _meetings(server: RegistryServer, pool_id: str) -> list[MeetingView]:
    with server.store.engine.connect() as connection:
        return meeting_views(connection, pool_id)


def _certificates(
    views: Sequence[MeetingView], source: DatabaseSource, registry_key: SigningKey, pool_name: str
) -> list[dict[str, Any]]:
    """One certificate per retired meeting, each with its inclusion proof."""
    names = {m.code: m.name_en for m in reference.municipalities()} | {
        tokyo62.OPERATOR: "Green Tokyo project secretariat"
    }
    proofs = inclusion_documents(source, [v.retired_position for v in views if v.retired_position])
    return [
        certificate(
            v, names[v.organiser_id], pool_name, proofs[v.retired_position], registry_key.public_key
        )
        for v in views
        if v.retired_position
    ]


def _fy2011_unchanged(before: pb.AllocationResponse, after: pb.AllocationResponse) -> bool:
    """Everything since FY2011's last retirement (models I-III, the FY2012 pool, refusals)
    left every FY2011 figure as it was."""
    same = bool(before.rows == after.rows and before.totals == after.totals)
    print(
        f"  {'OK ' if same else 'BAD'} every FY2011 figure unchanged by models I-III and the"
        f" FY2012 pool ({len(after.rows)} rows, {len(after.totals)} totals compared)"
    )
    return same


def _print_second_pool(allocation: pb.AllocationResponse, views: Sequence[MeetingView]) -> None:
    pool = allocation.pool
    rows, totals = _views(allocation)
    print(
        f"\n5. pool {pool.pool_id}: bought in {tonnes(pool.funded_kg)} t, split"
        f" {tonnes(pool.allocated_kg)} t over meetings calculated at"
        f" {tonnes(sum(m.calculated_kg for m in allocation.meetings))} t (remainders by largest"
        " remainder, equal ones to the meeting registered first),"
    )
    print(
        f"   retired {tonnes(pool.retired_kg)} t, returned {tonnes(pool.returned_kg)} t to the"
        f" secretariat; held now {tonnes(pool.held_kg)} t\n"
    )
    print(allocation_text(rows, totals))
    print(meetings_text(views))


def _print_outcome(out: Path, registry_key: SigningKey, report: AuditReport) -> None:
    verdict = "CLEAN" if report.clean else "DISCREPANCIES"
    print(
        f"\nReport written to {out}/: allocation.txt, allocation.csv, allocation.svg and a"
        f" certificate per meeting for each pool ({fy2012.POOL_ID} in its own folder),"
        " history.avro"
    )
    print(
        f"Check a certificate: python3 registry/transparency/proof_verifier.py {out}/certificates/W01.json"
        f" {registry_key.public_key.hex()}"
    )
    print(
        f"\nAudit of the exported history: {verdict} — {report.envelopes} envelopes,"
        f" {report.summary.get('parties')} parties; "
        f"t-CO2 issued {report.summary.get('issued_t')}, retired {report.summary.get('retired_t')}; "
        f"{report.summary.get('checkpoints_verified')} signed checkpoint(s) verified"
    )
    for discrepancy in report.discrepancies[:10]:
        print(f"  position {discrepancy.position}: {discrepancy.reason}")


def _partners(parties: Parties) -> int:
    """Models I, II and III beside the joint purchase."""
    parties.send(
        tokyo62.OPERATOR,
        [parties.register(party_id, role, name) for party_id, role, name in partners.parties()],
    )
    last = 0
    for actor, bodies in partners.commands():
        last = parties.send(actor, bodies)
    client = parties.client
    statement = client.statement(partners.AGREEMENT, 2011, min_position=last)
    musashino = client.balance(partners.MUSASHINO, min_position=last)
    bakery, printing = (client.balance(b, min_position=last) for b in partners.BUSINESSES)
    hems = client.batch("HEMSMS-HEMSHOUSEHOLDS-20120401-20130331-001", min_position=last)
    print(
        "3. model I: the forestry foundation issued 3 x 12 t for Musashino's forests; Musashino retired"
        f" {tonnes(musashino.retired_kg)} t against its city hall (FY2012)"
    )
    print(
        f"   model II: Akishima and Iwaizumi both signed {partners.AGREEMENT} (2011-12-20); FY2011 statement:"
        f" delivered {tonnes(statement.delivered_kg)} t, accepted {tonnes(statement.accepted_kg)} t,"
        f" declined {tonnes(statement.rejected_kg)} t, retired by Akishima {tonnes(statement.retired_by_user_kg)} t;"
        f" expected {tonnes(statement.expected_kg)} t a year, delivered against it"
        f" {tonnes(statement.accepted_kg)} t (difference {tonnes(statement.difference_kg)} t)"
    )
    print(
        f"   model III: Nerima's woodland credits retired by two local businesses ({tonnes(bakery.retired_kg)} t and"
        f" {tonnes(printing.retired_kg)} t, incentive recorded); {partners.HOUSEHOLDS} HEMS household reports"
        f" issued as one {tonnes(hems.issued_kg)} t batch by Minato, each kilogram traceable to its household"
    )
    return last


def _refusals(parties: Parties) -> None:
    akishima, iwaizumi = reference.by_name("Akishima").code, reference.by_name("Iwaizumi").code
    signer = parties.signer(akishima)
    as_akishima = signer.sign(c.TransferCredits(akishima, iwaizumi, 1_000))
    attempts = (
        ("Akishima spends credits it does not hold", as_akishima),
        (
            "Akishima moves the secretariat's credits",
            signer.sign(c.TransferCredits(tokyo62.OPERATOR, akishima, 1_000)),
        ),
        (
            "the operator signs as Akishima",
            dataclasses.replace(
                as_akishima,
                signature=parties.keys[tokyo62.OPERATOR].sign(as_akishima.command_bytes),
            ),
        ),
        (
            "Akishima accepts a delivery it already declined",
            parties.signer(partners.AKISHIMA).sign(c.ResolveDelivery("FY2011-2", "accepted")),
        ),
        (
            "the secretariat retires a meeting twice",
            parties.signer(tokyo62.OPERATOR).sign(c.RetireForMeeting(tokyo62.POOL_ID, "W01")),
        ),
        *_pool_refusals(parties),
    )
    for label, signed in attempts:
        try:
            parties.client.send(signed)
        except CommandRejected as rejection:
            assert rejection.code is not None
            print(
                f"4. refused, nothing recorded: {label} ->"
                f" {rejection.status.name} {rejection.code.name} ({rejection.code.number})"
            )
        else:
            raise AssertionError(f"{label} was accepted")


def _pool_refusals(parties: Parties) -> list[tuple[str, SignedCommand]]:
    """Against the FY2012 pool while it is open, and its meetings."""
    operator = parties.signer(tokyo62.OPERATOR)
    chiyoda = parties.signer(reference.by_name("Chiyoda").code)
    first = fy2012.plan_meetings(reference.emission_factors())[0]
    wrong = c.RecordMeetingResult(
        fy2012.POOL_ID,
        first.meeting_id,
        first.actual_participants,
        first.after.total_kg + 100,  # not what its inputs give
        "rounded up by hand",
        first.after.table_version,
        first.done,
    )
    early = c.RegisterMeeting(
        fy2012.POOL_ID,
        "W03",
        "Chiyoda forum held in FY2011",
        date(2011, 6, 1),
        "event",
        10,
        0,
        "",
        first.before.table_version,
        MeetingInputs(),
    )
    return [
        (
            "the secretariat buys into the FY2012 pool credits already in the FY2011 pool",
            operator.sign(c.FundPool(fy2012.POOL_ID, 1_000)),
        ),
        (
            "the secretariat allocates more than the FY2012 pool holds",
            operator.sign(c.AllocatePool(fy2012.POOL_ID, fy2012.PURCHASE_KG + 100)),
        ),
        ("Chiyoda sends a calculation its inputs do not give", chiyoda.sign(wrong)),
        ("Chiyoda registers a FY2011 meeting in the FY2012 pool", chiyoda.sign(early)),
    ]


def _compare_with_published(totals: Sequence[AllocationTotals]) -> bool:
    by_label = {t.label: t for t in totals}
    print("Published FY2011 figures against the projections:")
    all_match = True
    for label, (events, kg) in PUBLISHED.items():
        found = by_label[label]
        match = (found.events_offset, found.offset_kg) == (events, kg)
        all_match &= match
        print(
            f"  {'OK ' if match else 'BAD'} {label:<22} {found.events_offset:>3} events {tonnes(found.offset_kg):>8} t"
            f"   (published {events} events {tonnes(kg)} t)"
        )
    participating = by_label["total"].participating
    print(
        f"  {'OK ' if participating == 35 else 'BAD'} municipalities taking part: {participating} (published 35)"
    )
    return all_match and participating == 35
