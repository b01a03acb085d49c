"""The main job on the embedded default: a short history of the Tokyo 62 programme,
recorded, countersigned and then verified from the log alone. No servers needed."""

from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import sqlalchemy

from projections import queries
from projections.runner import catch_up_embedded
from projections.store import ProjectionStore
from registry import reference
from registry.application import CommandResult, RegistryApplication
from registry.domain import commands as c
from registry.domain.events import Beneficiary
from registry.log.embedded import EmbeddedLog
from registry.presentation import table, tonnes
from registry.relay import Relay, RelayPositions, event_store_recorder
from registry.signer import CommandSigner
from registry.signing import SigningKey
from registry.verification import verify_history

OPERATOR = "tokyo-62-secretariat"
JVER_PROVIDER = "jver-provider"
FY2011 = (date(2011, 4, 1), date(2012, 3, 31))
# A few of the programme's meetings and events, offset on each participant's behalf.
MEETING_OFFSETS_KG = (
    ("Chiyoda", 1_200),
    ("Setagaya", 2_500),
    ("Hachioji", 3_100),
    ("Okutama", 2_900),
)


class Demo:
    def __init__(self, home: Path) -> None:
        self.app = RegistryApplication(
            f"sqlite:///{home / 'registry.sqlite'}?timeout=30", SigningKey.generate()
        )
        self.keys: dict[str, SigningKey] = {}

    def signer(self, party_id: str) -> CommandSigner:
        if party_id not in self.keys:
            self.keys[party_id] = SigningKey.generate()  # each party creates its own key
        return CommandSigner(self.app.codec, party_id, self.keys[party_id])

    def do(self, party_id: str, body: c.CommandBody) -> CommandResult:
        result = self.app.submit(self.signer(party_id).sign(body))
        assert result.accepted, result
        return result

    def register(
        self, party_id: str, role: str, name: str, name_ja: str | None = None
    ) -> c.RegisterParty:
        return c.RegisterParty(party_id, role, name, self.signer(party_id).key.public_key, name_ja)


def run_demo(home: Path | None = None) -> int:
    if home is None:
        with tempfile.TemporaryDirectory(prefix="credit-registry-demo-") as directory:
            return run_demo(Path(directory))
    started = time.perf_counter()
    demo = Demo(home)
    print("credit-registry demo: the Tokyo 62 carbon-offset programme on the embedded store")
    print(f"  store: {home / 'registry.sqlite'}\n")

    demo.do(
        OPERATOR,
        demo.register(
            OPERATOR,
            "operator",
            "Green Tokyo project secretariat",
            "みどり東京・温暖化防止プロジェクト事務局",
        ),
    )
    members = [
        demo.register(m.code, "municipality", m.name_en, m.name_ja)
        for m in reference.municipalities()
    ]
    operator = demo.signer(OPERATOR)
    results = demo.app.submit_batch([operator.sign(body) for body in members])
    assert all(result.accepted for result in results), results
    print(
        f"1. registered {len(members)} municipalities in one batch (Tokyo's 62 and Iwaizumi),"
        " each with its own Ed25519 key"
    )

    demo.do(OPERATOR, demo.register(JVER_PROVIDER, "issuer", "J-VER offset provider"))
    demo.do(
        OPERATOR,
        c.RegisterCreditClass(
            "JVER", "J-VER (Japan Verified Emission Reduction)", (JVER_PROVIDER,)
        ),
    )
    iwaizumi = reference.by_name("Iwaizumi").code
    demo.do(
        OPERATOR,
        c.RegisterCreditClass("IWAIZUMIFOREST", "Iwaizumi town forest absorption", (iwaizumi,)),
    )
    demo.do(
        JVER_PROVIDER,
        c.RegisterProject(
            "JVERFOREST",
            "JVER",
            "J-VER forest absorption",
            "Japan",
            "J-VER forest management",
            JVER_PROVIDER,
        ),
    )
    demo.do(
        iwaizumi,
        c.RegisterProject(
            "TOWNFOREST",
            "IWAIZUMIFOREST",
            "Iwaizumi town-owned forest",
            "Iwaizumi, Iwate",
            "forest absorption",
            iwaizumi,
        ),
    )
    demo.do(JVER_PROVIDER, c.IssueCredits("JVERFOREST", *FY2011, 100_000, OPERATOR))
    print(
        "2. the J-VER provider issued 100 t (serials 1..100000) to the secretariat for the joint purchase"
    )

    for name, quantity_kg in MEETING_OFFSETS_KG:
        member = reference.by_name(name)
        details = c.RetirementDetails(
            Beneficiary(member.name_en, member.code),
            "meeting_event",
            2011,
            f"{member.name_ja} meeting offset",
        )
        demo.do(
            OPERATOR,
            c.TransferCredits(
                OPERATOR,
                member.code,
                quantity_kg,
                memo="joint purchase share",
                retire_on_arrival=details,
            ),
        )
    print(
        f"3. the secretariat allocated and retired {len(MEETING_OFFSETS_KG)} meeting offsets on the members' behalf"
    )

    akishima = reference.by_name("Akishima").code
    demo.do(iwaizumi, c.IssueCredits("TOWNFOREST", *FY2011, 20_000, iwaizumi))
    demo.do(
        iwaizumi,
        c.TransferCredits(
            iwaizumi, akishima, 12_000, memo="forest conservation agreement of 2011-12-20"
        ),
    )
    residual = c.RetirementDetails(
        Beneficiary("Akishima city", akishima), "residual_emissions", 2011
    )
    demo.do(akishima, c.RetireCredits(akishima, 12_000, residual))
    print(
        "4. Iwaizumi delivered 12 t of forest absorption to Akishima, which retired it against residual emissions"
    )

    akishima_signer = demo.signer(akishima)
    overspend = akishima_signer.sign(c.TransferCredits(akishima, iwaizumi, 1_000))
    someone_elses = akishima_signer.sign(c.TransferCredits(iwaizumi, akishima, 1_000))
    as_akishima = akishima_signer.sign(c.TransferCredits(akishima, OPERATOR, 1_000))
    forged = dataclasses.replace(
        as_akishima, signature=demo.keys[OPERATOR].sign(as_akishima.command_bytes)
    )
    attempts = (
        ("Akishima spends credits it no longer has", overspend),
        ("Akishima moves Iwaizumi's credits", someone_elses),
        ("the operator signs as Akishima", forged),
    )
    for label, signed in attempts:
        result = demo.app.submit(signed)
        assert result.code is not None and not result.accepted
        print(f"5. refused, nothing recorded: {label} -> {result.code.name} ({result.code.number})")

    # The relay copies every sealed envelope to the embedded log (Kafka's stand-in when no
    # broker is configured); projections and verification then read that log, as any
    # outside party would.
    database_url = demo.app.env["SQLALCHEMY_URL"]
    engine = sqlalchemy.create_engine(database_url)
    log = EmbeddedLog(engine, registry_public_keys=demo.app.registry_public_keys)
    relay = Relay(event_store_recorder(database_url), log, RelayPositions(engine), "embedded")
    relay.run(threading.Event(), exit_when_caught_up=True)
    print(
        f"\n6. the relay published {log.head_position()} envelopes to the embedded log (lag {relay.lag()})"
    )
    store = ProjectionStore(f"sqlite:///{home / 'projections.sqlite'}")
    catch_up_embedded(store, log)
    print(f"7. projections applied {store.applied_count()} envelopes from the log")

    ledger = demo.app.ledger
    with store.engine.connect() as connection:
        parties = sorted({party for party, _ in ledger.holdings} | {iwaizumi, akishima, OPERATOR})
        balances = {party: queries.balance(connection, party) for party in parties}
        supply = [queries.batch(connection, batch_id) for batch_id in sorted(ledger.supply)]
        _rows, allocation_totals = queries.allocation(connection)
    print("\nBalances from the projections (t-CO2):")
    balance_rows = [
        (p, ledger.parties[p].name, tonnes(balances[p].tradable_kg), tonnes(balances[p].retired_kg))
        for p in parties
    ]
    print(table(("party", "name", "tradable", "retired"), balance_rows, right=(2, 3)))
    projected_equal = all(balances[p].tradable_kg == ledger.tradable_kg(p) for p in parties)
    print("\nSupply per batch (t-CO2): issued = tradable + pending + retired + cancelled")
    supply_rows = [
        (
            v.batch_id,
            tonnes(v.issued_kg),
            tonnes(v.tradable_kg),
            tonnes(v.pending_kg),
            tonnes(v.retired_kg),
            tonnes(v.cancelled_kg),
        )
        for v in supply
        if v is not None
    ]
    print(
        table(
            ("batch", "issued", "tradable", "pending", "retired", "cancelled"),
            supply_rows,
            right=(1, 2, 3, 4, 5),
        )
    )
    print("\nJoint-purchase offsets of meetings and events across the 62 (t-CO2):")
    allocation_rows = [
        (s.label, s.members, s.participating, s.events_offset, tonnes(s.offset_kg))
        for s in allocation_totals
    ]
    print(
        table(
            ("group", "members", "participating", "events", "offset"),
            allocation_rows,
            right=(1, 2, 3, 4),
        )
    )

    report = verify_history(log.read(), demo.app.registry_public_keys, demo.app.codec)
    clean = report.clean and report.ledger.holdings == ledger.holdings and projected_equal
    verdict = "CLEAN" if clean else "DISCREPANCIES"
    print(
        f"\nVerification from the log alone: {verdict} — {report.envelopes} envelopes; every countersignature, "
        "hash link, actor signature and rule re-checked; balances rebuilt and equal to the projections"
    )
    for discrepancy in report.discrepancies:
        print(f"  position {discrepancy.position}: {discrepancy.reason}")
    print(f"done in {time.perf_counter() - started:.2f} s")
    return 0 if verdict == "CLEAN" else 1
