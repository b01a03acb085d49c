"""Origins, labels, buffers and retirement locations as their users meet them: through the
write side on SQLite, and through the projections where a reader looks them up.

The FY2011 pool bought J-VER credits that exist in the national registry; here a
provider issues them again naming that origin, and nobody may issue the same origin
kilograms a second time. A label authority labels serial ranges; transfers split them
and every piece keeps its labels; a retirement may require a label. A forest class keeps
a buffer, and a reversal is cancelled from it. A retirement names where its offset
emissions happened."""

from __future__ import annotations

import json
from datetime import date

import pytest

from projections import attribute_queries, queries
from registry.domain import commands as c
from registry.domain import label_spans
from registry.domain.checks import CheckCode
from registry.domain.events import Beneficiary, Origin
from registry.domain.invariants import invariant_violations
from registry.domain.records import buffer_holder
from registry.scenario import tokyo62
from registry.write.snapshot_codec import decode_ledger, encode_ledger
from tests.support.programme import Programme, project

OPERATOR, PROVIDER = tokyo62.OPERATOR, tokyo62.PROVIDER
SECOND_PROVIDER = "jver-broker"  # another provider, under another class
AUTHORITY = "jcredit-secretariat"  # labels the J-Credit class's serials
AKISHIMA, MUSASHINO, NERIMA, IWAIZUMI = "132071", "132039", "131202", "034835"
VINTAGE = (date(2011, 4, 1), date(2012, 3, 31))
JVER_RANGE = Origin("JP-JVER", "JVER-0012", 1, 12_000)
TODAY_VALID = (date(2020, 4, 1), date(2099, 3, 31))
EXPIRED = (date(2011, 4, 1), date(2012, 3, 31))


@pytest.fixture
def registry(programme: Programme) -> Programme:
    """Two providers under two classes, a labelled J-Credit class, a forest class with a
    10 % buffer, a project in each."""
    programme.ok(
        OPERATOR,
        [
            c.RegisterParty(party_id, "issuer", party_id, programme.signer(party_id).key.public_key)
            for party_id in (SECOND_PROVIDER, AUTHORITY)
        ],
    )
    programme.ok(
        OPERATOR,
        [
            c.RegisterCreditClass("JVERB", "J-VER resold", (SECOND_PROVIDER,)),
            c.RegisterCreditClass("JCREDIT", "J-Credit", (PROVIDER,), AUTHORITY),
            c.RegisterCreditClass("FOREST", "Forest absorption", (PROVIDER,), None, 100),
        ],
    )
    programme.ok(
        SECOND_PROVIDER,
        [c.RegisterProject("RESOLD", "JVERB", "Resold forest", "Iwate", "FM", SECOND_PROVIDER)],
    )
    programme.ok(
        PROVIDER,
        [
            c.RegisterProject("JCLFOREST", "JCREDIT", "Forest", "Tokyo", "FO-001", PROVIDER),
            c.RegisterProject(
                "IWAIZUMI", "FOREST", "Iwaizumi town forest", "Iwate", "FM", IWAIZUMI
            ),
        ],
    )
    return programme


def issue(
    project_id: str, quantity_kg: int, to: str, origin: Origin | None = None
) -> c.IssueCredits:
    return c.IssueCredits(project_id, *VINTAGE, quantity_kg, to, origin)


def retire(
    holder: str, quantity_kg: int, label: str | None = None, location: str | None = None
) -> c.RetireCredits:
    details = c.RetirementDetails(
        Beneficiary(holder, holder), "residual_emissions", 2011, "", None, location, label
    )
    return c.RetireCredits(holder, quantity_kg, details)


def test_the_same_jver_range_issued_twice_is_refused(registry: Programme) -> None:
    ledger = registry.app.ledger
    assert registry.send(PROVIDER, [issue(tokyo62.PROJECT_ID, 12_000, AKISHIMA, JVER_RANGE)]) == [
        None
    ]
    (first,) = [b for b in ledger.batches.values() if b.origin == JVER_RANGE]
    position = ledger.position
    again = issue("RESOLD", 12_000, MUSASHINO, JVER_RANGE)  # another provider, another class
    partly = issue("RESOLD", 12_000, MUSASHINO, Origin("JP-JVER", "JVER-0012", 6_001, 18_000))
    results = registry.app.submit_batch([registry.signer(SECOND_PROVIDER).sign(again)])
    assert results[0].code is CheckCode.ORIGIN_ALREADY_ISSUED
    assert first.batch_id in results[0].message  # names the batch that holds it
    assert registry.send(SECOND_PROVIDER, [partly]) == [CheckCode.ORIGIN_ALREADY_ISSUED]
    assert registry.send(PROVIDER, [issue(tokyo62.PROJECT_ID, 12_000, AKISHIMA, JVER_RANGE)]) == [
        CheckCode.ORIGIN_ALREADY_ISSUED  # nor by the first provider again
    ]
    assert ledger.position == position and ledger.tradable_kg(MUSASHINO) == 0  # nothing recorded
    # The origin's length is the quantity issued; the kilograms after it are still free, and
    # the same serials of another project there are other credits.
    assert registry.send(
        SECOND_PROVIDER,
        [issue("RESOLD", 5_000, MUSASHINO, Origin("JP-JVER", "JVER-0012", 12_001, 18_000))],
    ) == [CheckCode.INVALID_ORIGIN]
    assert registry.send(
        SECOND_PROVIDER,
        [
            issue("RESOLD", 6_000, MUSASHINO, Origin("JP-JVER", "JVER-0012", 12_001, 18_000)),
            issue("RESOLD", 12_000, MUSASHINO, Origin("JP-JVER", "JVER-0099", 1, 12_000)),
        ],
    ) == [None, None]
    assert invariant_violations(ledger) == []


def test_the_origin_shows_on_the_batch(registry: Programme, sqlite_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    registry.ok(PROVIDER, [issue(tokyo62.PROJECT_ID, 12_000, AKISHIMA, JVER_RANGE)])
    (batch_id,) = registry.app.ledger.party_batches[AKISHIMA]
    with project(sqlite_url, tmp_path).engine.connect() as connection:
        view = queries.batch(connection, batch_id)
    assert view is not None and view.origin == JVER_RANGE


def test_a_labelled_range_split_by_three_transfers_keeps_its_label(
    registry: Programme,
    sqlite_url: str,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    ledger = registry.app.ledger
    registry.ok(PROVIDER, [issue("JCLFOREST", 10_000, AKISHIMA)])
    (batch_id,) = ledger.party_batches[AKISHIMA]
    registry.ok(AUTHORITY, [c.AddLabel(batch_id, 1, 10_000, "JCREDIT-JCL", *TODAY_VALID)])
    registry.ok(
        AKISHIMA,
        [
            c.TransferCredits(AKISHIMA, MUSASHINO, 2_500),
            c.TransferCredits(AKISHIMA, NERIMA, 1_000),
            c.TransferCredits(AKISHIMA, IWAIZUMI, 4_000),
        ],
    )
    holders = (AKISHIMA, MUSASHINO, NERIMA, IWAIZUMI)
    pieces = [(holder, block) for holder in holders for block in ledger.holdings_of(holder)]
    assert sorted(block.quantity_kg for _h, block in pieces) == [1_000, 2_500, 2_500, 4_000]
    for _holder, block in pieces:
        spans = label_spans.carried(
            ledger.labels[batch_id], block.serial_start, block.serial_end, None
        )
        assert [(s.label, s.serial_start, s.serial_end) for s in spans] == [
            ("JCREDIT-JCL", block.serial_start, block.serial_end)
        ]
    with project(sqlite_url, tmp_path).engine.connect() as connection:
        held = [(h, queries.holdings(connection, h).blocks) for h in holders]
        blocks = [(b.batch_id, b.serial_start, b.serial_end) for _h, found in held for b in found]
        labelled = attribute_queries.labels_of_blocks(connection, blocks)
    assert sum(end - start + 1 for _b, start, end in blocks) == 10_000 and len(blocks) == 4
    for (_batch, start, end), labels in zip(blocks, labelled, strict=True):
        assert [(v.label, v.serial_start, v.serial_end) for v in labels] == [
            ("JCREDIT-JCL", start, end)
        ]


def test_only_the_class_authority_labels_and_withdrawing_takes_the_label_off(
    registry: Programme,
    sqlite_url: str,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    ledger = registry.app.ledger
    registry.ok(
        PROVIDER, [issue("JCLFOREST", 10_000, AKISHIMA), issue(tokyo62.PROJECT_ID, 10, AKISHIMA)]
    )
    batch_id, jver_batch = sorted(
        ledger.party_batches[AKISHIMA], key=lambda b: not b.startswith("JCREDIT")
    )
    label = c.AddLabel(batch_id, 1, 5_000, "ICVCM-CCP", *TODAY_VALID)
    assert registry.send(PROVIDER, [label]) == [CheckCode.NOT_THE_LABEL_AUTHORITY]
    assert registry.send(AUTHORITY, [c.AddLabel(jver_batch, 1, 10, "ICVCM-CCP", *TODAY_VALID)]) == [
        CheckCode.NOT_THE_LABEL_AUTHORITY  # J-VER names no authority
    ]
    assert registry.send(
        AUTHORITY, [c.AddLabel(batch_id, 9_001, 10_001, "ICVCM-CCP", *TODAY_VALID)]
    ) == [CheckCode.SERIALS_OUTSIDE_BATCH]
    assert registry.send(AUTHORITY, [c.AddLabel(batch_id, 1, 5, "icvcm ccp", *TODAY_VALID)]) == [
        CheckCode.INVALID_LABEL
    ]
    assert registry.send(
        AUTHORITY, [c.AddLabel(batch_id, 1, 5, "CORSIA", date(2030, 1, 1), date(2029, 1, 1))]
    ) == [CheckCode.INVALID_VALIDITY]
    registry.ok(AUTHORITY, [label])
    assert registry.send(
        AUTHORITY, [c.AddLabel(batch_id, 4_000, 6_000, "ICVCM-CCP", *TODAY_VALID)]
    ) == [CheckCode.LABEL_OVERLAP]
    assert registry.send(
        AUTHORITY, [c.WithdrawLabel(batch_id, 4_000, 6_000, "ICVCM-CCP", "review")]
    ) == [CheckCode.LABEL_NOT_PRESENT]
    registry.ok(
        AUTHORITY, [c.WithdrawLabel(batch_id, 1_001, 2_000, "ICVCM-CCP", "methodology review")]
    )
    spans = [(s.serial_start, s.serial_end) for s in ledger.labels[batch_id]]
    assert spans == [(1, 1_000), (2_001, 5_000)]
    with project(sqlite_url, tmp_path).engine.connect() as connection:
        view = queries.batch(connection, batch_id)
    assert view is not None
    assert [(v.label, v.serial_start, v.serial_end) for v in view.labels] == [
        ("ICVCM-CCP", 1, 1_000),
        ("ICVCM-CCP", 2_001, 5_000),
    ]


def test_a_retirement_requiring_a_label_is_refused_without_it(
    registry: Programme,
    sqlite_url: str,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    ledger = registry.app.ledger
    registry.ok(PROVIDER, [issue("JCLFOREST", 10_000, AKISHIMA)])
    (batch_id,) = ledger.party_batches[AKISHIMA]
    registry.ok(AUTHORITY, [c.AddLabel(batch_id, 1, 6_000, "TOKYO-CAP-AND-TRADE", *TODAY_VALID)])
    position = ledger.position
    # 7 t would take serials 1-7000: the last thousand kilograms lack the label.
    assert registry.send(AKISHIMA, [retire(AKISHIMA, 7_000, "TOKYO-CAP-AND-TRADE")]) == [
        CheckCode.LABEL_REQUIRED
    ]
    assert registry.send(AKISHIMA, [retire(AKISHIMA, 10, "ICVCM-CCP")]) == [
        CheckCode.LABEL_REQUIRED
    ]
    assert ledger.position == position and ledger.tradable_kg(AKISHIMA) == 10_000
    assert registry.send(AKISHIMA, [retire(AKISHIMA, 6_000, "TOKYO-CAP-AND-TRADE")]) == [None]
    assert ledger.tradable_kg(AKISHIMA) == 4_000
    with project(sqlite_url, tmp_path).engine.connect() as connection:
        (retired,) = queries.retirements(connection, holder_id=AKISHIMA)
        carried = attribute_queries.retirement_labels(connection, retired.position, 0)
    assert retired.required_label == "TOKYO-CAP-AND-TRADE"
    assert [(v.label, v.serial_start, v.serial_end) for v in carried] == [
        ("TOKYO-CAP-AND-TRADE", 1, 6_000)
    ]


def test_a_label_outside_its_validity_does_not_count(
    registry: Programme,
    sqlite_url: str,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    ledger = registry.app.ledger
    registry.ok(PROVIDER, [issue("JCLFOREST", 10_000, AKISHIMA)])
    (batch_id,) = ledger.party_batches[AKISHIMA]
    registry.ok(
        AUTHORITY,
        [
            c.AddLabel(batch_id, 1, 10_000, "CORSIA", *EXPIRED),
            c.AddLabel(batch_id, 1, 10_000, "ARTICLE6", date(2090, 1, 1), date(2099, 1, 1)),
            c.AddLabel(batch_id, 1, 10_000, "ICVCM-CCP", *TODAY_VALID),
        ],
    )
    assert registry.send(AKISHIMA, [retire(AKISHIMA, 100, "CORSIA")]) == [CheckCode.LABEL_REQUIRED]
    assert registry.send(AKISHIMA, [retire(AKISHIMA, 100, "ARTICLE6")]) == [
        CheckCode.LABEL_REQUIRED  # not valid yet
    ]
    registry.ok(AKISHIMA, [retire(AKISHIMA, 100)])  # no label required: accepted
    assert ledger.tradable_kg(AKISHIMA) == 9_900
    with project(sqlite_url, tmp_path).engine.connect() as connection:
        (retired,) = queries.retirements(connection, holder_id=AKISHIMA)
        carried = attribute_queries.retirement_labels(connection, retired.position, 0)
        on_batch = queries.batch(connection, batch_id)
    # The retirement records only the label valid on its day; the batch shows all three.
    assert [(v.label, v.serial_start, v.serial_end) for v in carried] == [("ICVCM-CCP", 1, 100)]
    assert on_batch is not None
    assert attribute_queries.label_names(on_batch.labels) == ["ARTICLE6", "CORSIA", "ICVCM-CCP"]


def test_a_forest_reversal_is_cancelled_from_the_buffer(
    registry: Programme,
    sqlite_url: str,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    ledger = registry.app.ledger
    buffer_id = buffer_holder("FOREST")
    registry.ok(PROVIDER, [issue("IWAIZUMI", 50_005, AKISHIMA)])
    (batch_id,) = ledger.party_batches[AKISHIMA]
    # 10 % withheld, rounded down; the buffer holds the batch's highest serials.
    assert ledger.tradable_kg(AKISHIMA) == 45_005 and ledger.tradable_kg(buffer_id) == 5_000
    assert ledger.held(buffer_id, batch_id) == ((45_006, 50_005),)
    assert registry.send(AKISHIMA, [c.ReportReversal("IWAIZUMI", 3_000, "fire")]) == [
        CheckCode.ISSUER_NOT_AUTHORISED
    ]
    registry.ok(PROVIDER, [c.ReportReversal("IWAIZUMI", 3_000, "forest fire, March 2012")])
    assert ledger.tradable_kg(buffer_id) == 2_000 and ledger.supply[batch_id].cancelled_kg == 3_000
    registry.ok(OPERATOR, [c.ReportReversal("IWAIZUMI", 4_000, "storm damage")])
    buffer = ledger.buffers["IWAIZUMI"]
    assert (buffer.withheld_kg, buffer.reversed_kg, buffer.shortfall_kg) == (5_000, 5_000, 2_000)
    assert ledger.tradable_kg(AKISHIMA) == 45_005  # no holder lost a kilogram
    supply = ledger.supply[batch_id]
    assert supply.balanced() and (supply.tradable_kg, supply.cancelled_kg) == (45_005, 5_000)
    assert invariant_violations(ledger) == []
    with project(sqlite_url, tmp_path).engine.connect() as connection:
        view = queries.batch(connection, batch_id)
        project_buffer = attribute_queries.project_buffer(connection, "FOREST", "IWAIZUMI")
        reversals = attribute_queries.reversals(connection, "IWAIZUMI")
        held = queries.balance(connection, buffer_id)
    assert view is not None and (view.issued_kg, view.tradable_kg, view.cancelled_kg) == (
        50_005,
        45_005,
        5_000,
    )
    assert view.buffer_held_kg == 0 and held.tradable_kg == 0
    assert (project_buffer.withheld_kg, project_buffer.held_kg, project_buffer.shortfall_kg) == (
        5_000,
        0,
        2_000,
    )
    assert [(r.quantity_kg, r.cancelled_kg, r.shortfall_kg) for r in reversals] == [
        (4_000, 2_000, 2_000),
        (3_000, 3_000, 0),
    ]


def test_a_retirements_location_is_queryable(
    registry: Programme,
    sqlite_url: str,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    registry.ok(PROVIDER, [issue(tokyo62.PROJECT_ID, 10_000, AKISHIMA)])
    assert (
        registry.send(
            AKISHIMA,
            [
                retire(AKISHIMA, 100, location="132070"),  # a wrong check digit
                retire(AKISHIMA, 100, location="JP-48"),  # Japan has 47 prefectures
                retire(AKISHIMA, 100, location="Akishima"),
                retire(AKISHIMA, 1_000, location="132071"),
                retire(AKISHIMA, 2_000, location="JP-13"),
                retire(AKISHIMA, 3_000),
            ],
        )
        == [CheckCode.INVALID_LOCATION] * 3 + [None] * 3
    )
    with project(sqlite_url, tmp_path).engine.connect() as connection:
        in_akishima = queries.retirements(connection, location="132071")
        in_tokyo = queries.retirements(connection, location="JP-13")
        every = queries.retirements(connection, holder_id=AKISHIMA)
    assert [(r.quantity_kg, r.location) for r in in_akishima] == [(1_000, "132071")]
    assert [(r.quantity_kg, r.location) for r in in_tokyo] == [(2_000, "JP-13")]
    assert [r.location for r in every] == ["132071", "JP-13", None]


def test_origins_labels_and_buffers_survive_a_snapshot(registry: Programme) -> None:
    """A process resuming from a snapshot decides with the same origins, labels and buffers
    as one that replayed: the snapshot keeps them exactly."""
    ledger = registry.app.ledger
    registry.ok(PROVIDER, [issue("JCLFOREST", 12_000, AKISHIMA, JVER_RANGE)])
    (batch_id,) = ledger.party_batches[AKISHIMA]
    registry.ok(AUTHORITY, [c.AddLabel(batch_id, 1, 6_000, "JCREDIT-JCL", *TODAY_VALID)])
    registry.ok(PROVIDER, [issue("IWAIZUMI", 5_000, MUSASHINO)])
    registry.ok(PROVIDER, [c.ReportReversal("IWAIZUMI", 200, "storm")])
    assert ledger.origins and ledger.labels and ledger.buffers
    restored = decode_ledger(json.loads(json.dumps(encode_ledger(ledger))))
    assert vars(restored) == vars(ledger)
