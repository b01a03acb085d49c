"""Models I and III through the write side and the projections: Musashino's city hall
offset, Nerima's businesses, and a household (HEMS) issuance whose every kilogram is
traceable to the household that reduced it."""

from __future__ import annotations

import pytest

from projections import queries
from registry.domain import commands as c
from registry.domain.checks import CheckCode
from registry.domain.invariants import invariant_violations
from registry.scenario import partners
from tests.support.programme import Programme, project

HEMS_BATCH = "HEMSMS-HEMSHOUSEHOLDS-20120401-20130331-001"


@pytest.fixture
def scheme(programme: Programme) -> Programme:
    programme.ok(
        partners.OPERATOR,
        [
            c.RegisterParty(p, role, name, programme.signer(p).key.public_key)
            for p, role, name in partners.parties()
        ],
    )
    for actor, bodies in partners.commands():
        programme.ok(actor, bodies)
    return programme


def test_models_one_and_three_in_the_projections(
    scheme: Programme, sqlite_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    store = project(sqlite_url, tmp_path)
    reports = partners.household_reports()
    with store.engine.connect() as connection:
        musashino = queries.balance(connection, partners.MUSASHINO)
        (city_hall,) = queries.retirements(connection, holder_id=partners.MUSASHINO)
        bakery = queries.retirements(connection, holder_id="nerima-bakery")
        hems = queries.batch(connection, HEMS_BATCH)
        ranges = queries.contributions(connection, HEMS_BATCH)
        first, last = reports[0], reports[-1]
        owner_of_first_kg = queries.contributor_of(connection, HEMS_BATCH, 1)
        owner_of_last_kg = queries.contributor_of(
            connection, HEMS_BATCH, sum(r.quantity_kg for r in reports)
        )
        statement = queries.statement(connection, partners.AGREEMENT, 2011)
    assert (musashino.retired_kg, musashino.tradable_kg) == (
        12_000,
        24_000,
    )  # FY2012 retired; two more forest-years held
    assert (city_hall.purpose, city_hall.reporting_year, city_hall.beneficiary_name) == (
        "facility",
        2012,
        "Musashino city hall",
    )
    assert bakery[0].memo.startswith("incentive: a signboard")
    assert hems is not None and hems.issued_kg == sum(r.quantity_kg for r in reports)
    assert [contributor for contributor, _s, _e in ranges] == [r.contributor for r in reports]
    assert all(
        end - start + 1 == r.quantity_kg
        for (_c, start, end), r in zip(ranges, reports, strict=True)
    )
    assert (owner_of_first_kg, owner_of_last_kg) == (first.contributor, last.contributor)
    assert statement is not None and (
        statement.accepted_kg,
        statement.rejected_kg,
        statement.retired_by_user_kg,
    ) == (10_000, 3_000, 10_000)
    assert invariant_violations(scheme.app.ledger) == []


def test_only_the_local_class_issuers_may_issue(scheme: Programme) -> None:
    from datetime import date

    vintage = date(2013, 4, 1)
    assert scheme.send(
        partners.SHINJUKU, [c.IssueCredits("IKOINOMORI", vintage, vintage, 10, partners.SHINJUKU)]
    ) == [CheckCode.ISSUER_NOT_AUTHORISED]
    assert scheme.send(
        partners.SHINJUKU,
        [
            c.IssueAggregated(
                "HEMSHOUSEHOLDS",
                vintage,
                vintage,
                partners.SHINJUKU,
                (c.ContributionReport("SHINJUKU-HH-900", 42),),
            )
        ],
    ) == [None]
    assert scheme.send(
        partners.NERIMA,
        [
            c.IssueAggregated(
                "HEMSHOUSEHOLDS", vintage, vintage, partners.NERIMA, (c.ContributionReport("X", 1),)
            )
        ],
    ) == [CheckCode.ISSUER_NOT_AUTHORISED]
