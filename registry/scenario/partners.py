"""Models I, II and III of the FY2011 study, as commands beside the joint purchase.

I   Musashino offsets its city hall with absorption from forest work it pays for: the
    foundation that maintains the Tokisaka forest in Hinohara issues forest credits, about
    12 t for FY2012, one forest a year for three years.
II  Iwaizumi (provider) and Akishima (user) sign the forest agreement of 2011-12-20;
    Iwaizumi delivers absorption value in two phases, Akishima accepts and retires it
    against its residual emissions; a second delivery is declined.
III Nerima's green-conservation class: credits for emissions avoided by keeping a lent
    woodland from development, bought and retired by local businesses (their incentive
    recorded); Minato and Shinjuku's household (HEMS) class, where many household
    reduction reports become one issuance that keeps each household's serial range.
Quantities beyond "about 12 t" are constructed for the demo."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date

from registry.domain import commands as c
from registry.domain.events import Beneficiary
from registry.support.clock import now_us

OPERATOR = "tokyo-62-secretariat"
FOUNDATION = "tokyo-forestry-foundation"
IWAIZUMI, AKISHIMA, MUSASHINO = "034835", "132071", "132039"
NERIMA, MINATO, SHINJUKU = "131202", "131032", "131041"
BUSINESSES = {
    "nerima-bakery": "Nerima bakery (local business)",
    "nerima-printing": "Nerima printing works (local business)",
}
AGREEMENT = "AKISHIMA-IWAIZUMI-2011"
AGREEMENT_TERMS = c.SignAgreement(
    AGREEMENT,
    IWAIZUMI,
    AKISHIMA,
    date(2011, 12, 20),
    5,
    10_000,
    "Agreement on cooperation for forest conservation: Iwaizumi's town forest absorption offsets the CO2 Akishima "
    "cannot cut however hard it tries",
)
HOUSEHOLDS = 40
FY2011 = (date(2011, 4, 1), date(2012, 3, 31))
FY2012 = (date(2012, 4, 1), date(2013, 3, 31))


def parties() -> list[tuple[str, str, str]]:
    """(party id, role, name) of the parties these models add to the registry."""
    return [
        (FOUNDATION, "issuer", "Tokyo Agriculture, Forestry and Fisheries Promotion Foundation"),
        *((party_id, "business", name) for party_id, name in BUSINESSES.items()),
    ]


def household_reports(seed: int = 2012) -> tuple[c.ContributionReport, ...]:
    rng = random.Random(seed)
    return tuple(
        c.ContributionReport(
            f"{'MINATO' if n % 2 else 'SHINJUKU'}-HH-{n:03d}", rng.randint(20, 150)
        )
        for n in range(1, HOUSEHOLDS + 1)
    )


def commands() -> Iterator[tuple[str, list[c.CommandBody]]]:
    """The three models as (actor, commands) steps, in order; each step is one batch."""
    yield OPERATOR, _credit_classes()
    yield from _forest_maintenance()
    yield from _forest_agreement()
    yield from _woodland_for_businesses()
    yield from _household_reductions()


def _credit_classes() -> list[c.CommandBody]:
    return [
        c.RegisterCreditClass(
            "FORESTTOKYO", "Tokyo forest absorption (maintained forests)", (FOUNDATION,)
        ),
        c.RegisterCreditClass("IWAIZUMIFOREST", "Iwaizumi town forest absorption", (IWAIZUMI,)),
        c.RegisterCreditClass(
            "NERIMAGREEN", "Nerima green conservation (avoided development)", (NERIMA,)
        ),
        c.RegisterCreditClass(
            "HEMSMS", "Minato-Shinjuku household reductions (HEMS)", (MINATO, SHINJUKU)
        ),
    ]


def _forest_maintenance() -> Iterator[tuple[str, list[c.CommandBody]]]:
    """Model I: three forests Musashino's water department already pays to maintain."""
    yield (
        FOUNDATION,
        [
            c.RegisterProject(
                "TOKISAKA",
                "FORESTTOKYO",
                "Musashino Water Tokisaka Forest",
                "Hinohara, Tokyo",
                "forest management",
                MUSASHINO,
            ),
            c.RegisterProject(
                "MUSASHINOWF2",
                "FORESTTOKYO",
                "Musashino water forest, second site",
                "Hinohara, Tokyo",
                "forest management",
                MUSASHINO,
            ),
            c.RegisterProject(
                "MUSASHINOWF3",
                "FORESTTOKYO",
                "Musashino water forest, third site",
                "Hinohara, Tokyo",
                "forest management",
                MUSASHINO,
            ),
            c.IssueCredits("TOKISAKA", *FY2012, 12_000, MUSASHINO),
            c.IssueCredits("MUSASHINOWF2", date(2013, 4, 1), date(2014, 3, 31), 12_000, MUSASHINO),
            c.IssueCredits("MUSASHINOWF3", date(2014, 4, 1), date(2015, 3, 31), 12_000, MUSASHINO),
        ],
    )
    city_hall = c.RetirementDetails(
        Beneficiary("Musashino city hall", MUSASHINO), "facility", 2012, "main city hall, FY2012"
    )
    yield (
        MUSASHINO,
        [
            c.RetireCredits(
                MUSASHINO, 12_000, city_hall, "FORESTTOKYO-TOKISAKA-20120401-20130331-001"
            )
        ],
    )


def _forest_agreement() -> Iterator[tuple[str, list[c.CommandBody]]]:
    """Model II: the agreement, signed by both; absorption delivered in two phases."""
    yield (
        IWAIZUMI,
        [
            c.RegisterProject(
                "TOWNFOREST",
                "IWAIZUMIFOREST",
                "Iwaizumi town-owned forest",
                "Iwaizumi, Iwate",
                "forest absorption",
                IWAIZUMI,
            ),
            c.IssueCredits("TOWNFOREST", *FY2011, 15_000, IWAIZUMI),
            AGREEMENT_TERMS,
        ],
    )
    yield AKISHIMA, [AGREEMENT_TERMS]
    deadline = now_us() + 30 * 24 * 3600 * 1_000_000
    yield (
        IWAIZUMI,
        [
            c.ProposeDelivery(AGREEMENT, "FY2011-1", 2011, 10_000, deadline),
            c.ProposeDelivery(AGREEMENT, "FY2011-2", 2011, 3_000, deadline),
        ],
    )
    residual = c.RetirementDetails(
        Beneficiary("Akishima city", AKISHIMA),
        "residual_emissions",
        2011,
        "CO2 that cannot be cut however hard we try",
        f"agreement:{AGREEMENT}",
    )
    yield (
        AKISHIMA,
        [
            c.ResolveDelivery("FY2011-1", "accepted"),
            c.ResolveDelivery("FY2011-2", "rejected", "enough for FY2011"),
            c.RetireCredits(AKISHIMA, 10_000, residual),
        ],
    )


def _woodland_for_businesses() -> Iterator[tuple[str, list[c.CommandBody]]]:
    """Model III: Nerima's woodland credits, bought and retired by local businesses."""
    yield (
        NERIMA,
        [
            c.RegisterProject(
                "IKOINOMORI",
                "NERIMAGREEN",
                "Nerima Ikoi-no-Mori lent woodland",
                "Nerima, Tokyo",
                "CO2 that developing the woodland into housing would emit",
                NERIMA,
            ),
            c.IssueCredits("IKOINOMORI", *FY2012, 5_000, NERIMA),
            c.TransferCredits(
                NERIMA, "nerima-bakery", 1_500, memo="via the intermediary organisation"
            ),
            c.TransferCredits(
                NERIMA, "nerima-printing", 800, memo="via the intermediary organisation"
            ),
        ],
    )
    for business in BUSINESSES:
        incentive = "incentive: a signboard with the buyer's name in the forest, and gift vouchers"
        kg = 1_500 if business == "nerima-bakery" else 800
        yield (
            business,
            [
                c.RetireCredits(
                    business,
                    kg,
                    c.RetirementDetails(
                        Beneficiary(BUSINESSES[business], business), "voluntary", 2012, incentive
                    ),
                )
            ],
        )


def _household_reductions() -> Iterator[tuple[str, list[c.CommandBody]]]:
    """Model III: households' HEMS reductions, aggregated into one traceable issuance."""
    yield (
        MINATO,
        [
            c.RegisterProject(
                "HEMSHOUSEHOLDS",
                "HEMSMS",
                "Minato and Shinjuku HEMS households",
                "Minato and Shinjuku, Tokyo",
                "measured household electricity reduction (HEMS)",
                MINATO,
            ),
            c.IssueAggregated("HEMSHOUSEHOLDS", *FY2012, MINATO, household_reports()),
        ],
    )
