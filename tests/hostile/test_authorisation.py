"""Every role against every mutating RPC through the real server, allowed or denied as the
rules (registry/domain/rules.py, exchange.py, pools.py, pool_holdings.py, labels.py,
buffers.py, recovery.py) document. Each cell's command is valid but for who sends it, so
a denial can only come from the actor's role or standing."""

from __future__ import annotations

from datetime import date

from registry.client.command_signer import CommandSigner
from registry.client.grpc_client import CommandRejected
from registry.domain import commands as c
from registry.domain.checks import CheckCode
from registry.domain.emissions import Factor
from registry.envelope.keys import SigningKey
from registry.support.clock import now_us
from tests.conftest import ROOT
from tests.hostile.conftest import AGREEMENT, DAY_US, HostileWorld
from tests.hostile.harness import Tally, serving, store_head
from tests.hostile.matrix_world import (
    Body,
    attribute_bodies,
    pool_bodies,
    prepare_attributes,
    prepare_pools,
    recovery_key_bodies,
)
from tests.support.helpers import AKISHIMA, AUDITOR, ISSUER, IWAIZUMI, OPERATOR, PROJECT, retirement

ROLES = ("operator", "issuer", "municipality", "business", "auditor", "unregistered")
BUSINESS = "nerima-green-shop"
UNREGISTERED = "not-registered"
PARTY_OF_ROLE = {
    "operator": OPERATOR,
    "issuer": ISSUER,
    "municipality": IWAIZUMI,
    "business": BUSINESS,
    "auditor": AUDITOR,
    "unregistered": UNREGISTERED,
}
# The municipality in a cell is the one the command concerns: Iwaizumi provides under the
# agreement, Akishima uses it (and so is the one who accepts a delivery) and is a member of
# the FY2011 pool. Iwaizumi is the proponent of the projects whose credits are labelled or
# reversed: a proponent neither labels nor reports a reversal.
MUNICIPALITY_FOR = dict.fromkeys(
    ("ResolveDelivery", "FundPool", "RegisterMeeting", "RecordMeetingResult"), AKISHIMA
)

A = "allowed"
ROLE = CheckCode.ROLE_NOT_ALLOWED.name
ISSUER_ONLY = CheckCode.ISSUER_NOT_AUTHORISED.name
OWNER = CheckCode.NOT_THE_OWNER.name
UNKNOWN = CheckCode.UNKNOWN_PARTY.name
NO_INSTALL = CheckCode.OPERATOR_CANNOT_INSTALL_KEYS.name
LABELLER = CheckCode.NOT_THE_LABEL_AUTHORITY.name
MEMBER = CheckCode.NOT_A_MEMBER.name
# The documented matrix, one row per RPC, one column per role (in ROLES order).
MATRIX: dict[str, tuple[str, ...]] = {
    "RegisterParty": (A, ROLE, ROLE, ROLE, ROLE, UNKNOWN),
    # No one installs another party's key, the operator least of all (a takeover).
    "RegisterKey (party without a key)": (NO_INSTALL, ROLE, ROLE, ROLE, ROLE, UNKNOWN),
    "RegisterCreditClass": (A, ROLE, ROLE, ROLE, ROLE, UNKNOWN),
    "RegisterProject (class issued by the issuer)": (
        A,
        A,
        ISSUER_ONLY,
        ISSUER_ONLY,
        ISSUER_ONLY,
        UNKNOWN,
    ),
    "IssueCredits (class issued by the issuer)": (
        ISSUER_ONLY,
        A,
        ISSUER_ONLY,
        ISSUER_ONLY,
        ISSUER_ONLY,
        UNKNOWN,
    ),
    "IssueAggregated (class issued by the issuer)": (
        ISSUER_ONLY,
        A,
        ISSUER_ONLY,
        ISSUER_ONLY,
        ISSUER_ONLY,
        UNKNOWN,
    ),
    "TransferCredits (own credits)": (A, A, A, A, ROLE, UNKNOWN),
    "TransferCredits (someone else's credits)": (OWNER, OWNER, OWNER, OWNER, OWNER, UNKNOWN),
    "RetireCredits (own credits)": (A, A, A, A, ROLE, UNKNOWN),
    "CancelCredits (a batch the issuer issued)": (A, A, ROLE, ROLE, ROLE, UNKNOWN),
    "Submit OpenPool": (A, ROLE, ROLE, ROLE, ROLE, UNKNOWN),
    "Submit RegisterFactorTable": (A, ROLE, ROLE, ROLE, ROLE, UNKNOWN),
    "SignAgreement (as its provider)": (A, A, A, A, ROLE, UNKNOWN),
    "ProposeDelivery (Iwaizumi's agreement)": (OWNER, OWNER, A, OWNER, OWNER, UNKNOWN),
    "ResolveDelivery accept (Akishima's delivery)": (OWNER, OWNER, A, OWNER, OWNER, UNKNOWN),
    # Eligibility is the label authority's word: not the operator's, not the issuer's.
    "AddLabel (the issuer is the class's label authority)": (
        LABELLER,
        A,
        LABELLER,
        LABELLER,
        LABELLER,
        UNKNOWN,
    ),
    "AddLabel (another party is the class's label authority)": (
        LABELLER,
        LABELLER,
        LABELLER,
        LABELLER,
        LABELLER,
        UNKNOWN,
    ),
    "WithdrawLabel (the issuer is the class's label authority)": (
        LABELLER,
        A,
        LABELLER,
        LABELLER,
        LABELLER,
        UNKNOWN,
    ),
    "ReportReversal (class issued by the issuer, with a buffer)": (
        A,
        A,
        ISSUER_ONLY,
        ISSUER_ONLY,
        ISSUER_ONLY,
        UNKNOWN,
    ),
    # "operator" in the pool rows is the party that opened the pool.
    "FundPool (a pool Akishima is a member of)": (A, MEMBER, A, MEMBER, MEMBER, UNKNOWN),
    "RegisterMeeting (a pool Akishima is a member of)": (A, MEMBER, A, MEMBER, MEMBER, UNKNOWN),
    "RecordMeetingResult (Akishima's meeting)": (OWNER, OWNER, A, OWNER, OWNER, UNKNOWN),
    "AllocatePool (a pool the operator opened)": (A, ROLE, ROLE, ROLE, ROLE, UNKNOWN),
    "RetireForMeeting (a pool the operator opened and allocated)": (
        A,
        ROLE,
        ROLE,
        ROLE,
        ROLE,
        UNKNOWN,
    ),
    "ReturnPoolRemainder (to Akishima, who funded it)": (A, ROLE, ROLE, ROLE, ROLE, UNKNOWN),
    "CarryPoolRemainder (into the operator's FY2012 pool)": (A, ROLE, ROLE, ROLE, ROLE, UNKNOWN),
    # No one, the operator included, sets another party's recovery key (a takeover).
    "SetRecoveryKey (own, none set yet)": (A, A, A, A, A, UNKNOWN),
    "SetRecoveryKey (another party's)": (OWNER, OWNER, OWNER, OWNER, OWNER, UNKNOWN),
    "RevokeKey (another party's key)": (A, OWNER, OWNER, OWNER, OWNER, UNKNOWN),
    "RotateKey (own key)": (A, A, A, A, A, UNKNOWN),
    "RevokeKey (own key)": (A, A, A, A, A, UNKNOWN),
}


def _bodies(hostile: HostileWorld, rotations: dict[str, SigningKey]) -> dict[str, Body]:
    keys = hostile.world.keys
    vintage = (date(2011, 4, 1), date(2012, 3, 31))
    batch = hostile.vocabulary.batches[0]

    def rotate(actor: str, _: int) -> c.CommandBody:
        rotations[actor] = SigningKey.generate()
        return c.RotateKey(actor, keys[actor].key_id, rotations[actor].public_key)

    bodies: dict[str, Body] = {
        "RegisterParty": lambda actor, n: c.RegisterParty(
            f"new-party-{n}", "business", "新しい事業者", SigningKey.generate().public_key
        ),
        "RegisterKey (party without a key)": lambda actor, n: c.RegisterKey(
            f"keyless-{n % 6}", SigningKey.generate().public_key
        ),
        "RegisterCreditClass": lambda actor, n: c.RegisterCreditClass(
            f"CLASS{n}", "地域", (ISSUER,)
        ),
        "RegisterProject (class issued by the issuer)": lambda actor, n: c.RegisterProject(
            f"PROJECT{n}", "JVER", "森林", "岩手県", "FM", IWAIZUMI
        ),
        "IssueCredits (class issued by the issuer)": lambda actor, n: c.IssueCredits(
            PROJECT, *vintage, 1_000, IWAIZUMI
        ),
        "IssueAggregated (class issued by the issuer)": lambda actor, n: c.IssueAggregated(
            PROJECT, *vintage, IWAIZUMI, (c.ContributionReport("household-1", 10),)
        ),
        "TransferCredits (own credits)": lambda actor, n: c.TransferCredits(
            actor, AKISHIMA if actor != AKISHIMA else IWAIZUMI, 1
        ),
        "TransferCredits (someone else's credits)": lambda actor, n: c.TransferCredits(
            AKISHIMA, IWAIZUMI, 1
        ),
        "RetireCredits (own credits)": lambda actor, n: c.RetireCredits(
            actor, 1, retirement("本人")
        ),
        "CancelCredits (a batch the issuer issued)": lambda actor, n: c.CancelCredits(
            IWAIZUMI, batch, 1, "double counting"
        ),
        "Submit OpenPool": lambda actor, n: c.OpenPool(f"POOL-{n}", "共同購入", 2012, (AKISHIMA,)),
        "Submit RegisterFactorTable": lambda actor, n: c.RegisterFactorTable(
            f"matrix-{n}", (Factor("electricity", "kWh", 375_000, "電力会社の排出係数"),)
        ),
        "SignAgreement (as its provider)": lambda actor, n: c.SignAgreement(
            f"AGREEMENT-{n}", actor, AKISHIMA, date(2012, 4, 1), 3, 1_000, "森林吸収"
        ),
        "ProposeDelivery (Iwaizumi's agreement)": lambda actor, n: c.ProposeDelivery(
            AGREEMENT, f"MATRIX-{n}", 2012, 10, now_us() + 30 * DAY_US
        ),
        "ResolveDelivery accept (Akishima's delivery)": lambda actor, n: c.ResolveDelivery(
            f"PENDING-{n % 6}", "accepted"
        ),
        "RevokeKey (another party's key)": lambda actor, n: c.RevokeKey(
            f"victim-{n % 6}", keys[f"victim-{n % 6}"].key_id, "matrix"
        ),
        "RotateKey (own key)": rotate,
        "RevokeKey (own key)": lambda actor, n: c.RevokeKey(actor, keys[actor].key_id, "matrix"),
    }
    return {**bodies, **attribute_bodies(), **pool_bodies(), **recovery_key_bodies()}


def _prepare(hostile: HostileWorld) -> None:
    """Credits for every holder, parties without keys, victims, pending deliveries, and
    what the rows of matrix_world act on."""
    world, client = hostile.world, hostile.client
    world.register(BUSINESS, "business", "練馬の店")
    issuer = world.signer(ISSUER)
    for holder in (OPERATOR, ISSUER, BUSINESS):
        client.issue(issuer, PROJECT, date(2011, 4, 1), date(2012, 3, 31), 10_000, holder)
    for number in range(6):
        world.register(f"keyless-{number}", "business", "鍵のない事業者")
        keyless = f"keyless-{number}"
        client.execute(
            world.signer(OPERATOR), c.RevokeKey(keyless, world.keys[keyless].key_id, "x")
        )
        world.register(f"victim-{number}", "business", "被害者")
        client.execute(
            world.signer(IWAIZUMI),
            c.ProposeDelivery(AGREEMENT, f"PENDING-{number}", 2012, 10, now_us() + 30 * DAY_US),
        )
    prepare_attributes(world)
    prepare_pools(world)
    world.keys[UNREGISTERED] = SigningKey.generate()


def test_every_role_against_every_mutating_rpc(hostile: HostileWorld) -> None:
    _prepare(hostile)
    rotations: dict[str, SigningKey] = {}
    bodies = _bodies(hostile, rotations)
    tally = Tally("authorisation-matrix", suite="authorisation")
    cell = 0
    for row, expected_row in MATRIX.items():
        for role, expected in zip(ROLES, expected_row, strict=True):
            cell += 1
            actor = PARTY_OF_ROLE[role]
            if role == "municipality":
                actor = MUNICIPALITY_FOR.get(row.split(" ")[0], actor)
            signer = CommandSigner(hostile.world.codec, actor, hostile.world.keys[actor])
            before = store_head(hostile.server)
            tally.cases += 1
            try:
                hostile.client.execute(signer, bodies[row](actor, cell))
                outcome = A
                tally.accept()
                if actor in rotations:
                    hostile.world.keys[actor] = rotations.pop(actor)
            except CommandRejected as rejection:
                outcome = rejection.code.name if rejection.code else rejection.status.name
                tally.rejected += 1
                tally.codes[outcome] += 1
                assert store_head(hostile.server) == before, (row, role)
            assert outcome == expected, f"{row} as {role}: {outcome}, documented {expected}"
    tally.report()
    assert serving(hostile.server)


def markdown_matrix() -> str:
    """The matrix as docs/reliability-security.md shows it."""
    lines = ["| RPC | " + " | ".join(ROLES) + " |", "|---|" + "---|" * len(ROLES)]
    for row, cells in MATRIX.items():
        shown = ["✔" if cell == A else f"`{cell}`" for cell in cells]
        lines.append(f"| {row} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def test_the_published_matrix_is_the_one_tested() -> None:
    """The table readers trust is the one the server was held to, cell for cell."""
    document = (ROOT / "docs" / "reliability-security.md").read_text(encoding="utf-8")
    assert markdown_matrix() in document
