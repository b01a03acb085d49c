"""What the authorisation matrix's rows for labels, reversals, pools and recovery keys act
on, each set up so that the command of every cell is valid but for who sends it: a class
the issuer labels and one another party labels, a labelled range to withdraw, a class with
a buffer, Akishima's funding and meeting in the FY2011 pool, a later pool to carry into,
and one fresh pool per cell where the command changes a pool for good (its allocation, a
meeting's retirement)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from registry.domain import commands as c
from registry.domain.emissions import Factor, MeetingInputs
from registry.envelope.keys import SigningKey
from tests.e2e.grpc_world import GrpcWorld
from tests.support.helpers import AKISHIMA, ISSUER, IWAIZUMI, OPERATOR

Body = Callable[[str, int], c.CommandBody]  # (actor, cell number) -> command

LABEL_AUTHORITY = "label-secretariat"  # labels OTHER, a class the issuer issues
VINTAGE = (date(2011, 4, 1), date(2012, 3, 31))
VALID = (date(2020, 4, 1), date(2099, 3, 31))
WITHDRAWN = "MATRIX-WITHDRAWN"  # on serials 1-1000 of the issuer's labelled batch
POOL = "TOKYO62-FY2011"  # opened in conftest.populate, members Akishima and Musashino
LATER_POOL = "TOKYO62-FY2012"
MEETING = "AKISHIMA-MATRIX"
KWH_TABLE = c.RegisterFactorTable(
    "matrix-one-kg-per-kwh", (Factor("electricity", "kWh", 1_000_000, "1 kg per kWh"),)
)
MEETING_KG = 10
CELL_POOLS = 6  # one per role: the cells of a row have consecutive numbers
CLASSES = {  # class -> (label authority, buffer share per mille)
    "LABELLED": (ISSUER, 0),
    "OTHER": (LABEL_AUTHORITY, 0),
    "BUFFERED": (None, 100),
}


def batch_of(class_id: str) -> str:
    start, end = (day.strftime("%Y%m%d") for day in VINTAGE)
    return f"{class_id}-{class_id}01-{start}-{end}-001"


def allocate_pool(n: int) -> str:
    return f"ALLOCATE-{n % CELL_POOLS}"


def retire_pool(n: int) -> str:
    return f"RETIRE-{n % CELL_POOLS}"


def registration(pool_id: str, meeting_id: str) -> c.RegisterMeeting:
    inputs = MeetingInputs(electricity_kwh=MEETING_KG)
    return c.RegisterMeeting(
        pool_id,
        meeting_id,
        "再エネ説明会",
        date(2011, 7, 1),
        "briefing",
        10,
        MEETING_KG,
        "",
        KWH_TABLE.version,
        inputs,
    )


def result(pool_id: str, meeting_id: str) -> c.RecordMeetingResult:
    inputs = MeetingInputs(electricity_kwh=MEETING_KG)
    return c.RecordMeetingResult(pool_id, meeting_id, 10, MEETING_KG, "", KWH_TABLE.version, inputs)


def prepare_attributes(world: GrpcWorld) -> None:
    """Three classes with a project each and a batch for Iwaizumi, its proponent; a range
    of the issuer's labelled batch carries WITHDRAWN; the buffer holds 1,000 kg."""
    world.register(LABEL_AUTHORITY, "issuer", "ラベル事務局")
    operator, issuer = world.signer(OPERATOR), world.signer(ISSUER)
    for class_id, (authority, share_permille) in CLASSES.items():
        world.client.execute(
            operator,
            c.RegisterCreditClass(class_id, class_id, (ISSUER,), authority, share_permille),
        )
        project_id = f"{class_id}01"
        world.client.execute(
            issuer, c.RegisterProject(project_id, class_id, "森林", "岩手県", "FM", IWAIZUMI)
        )
        world.client.execute(issuer, c.IssueCredits(project_id, *VINTAGE, 10_000, IWAIZUMI))
    world.client.execute(issuer, c.AddLabel(batch_of("LABELLED"), 1, 1_000, WITHDRAWN, *VALID))


def prepare_pools(world: GrpcWorld) -> None:
    """Akishima funds the FY2011 pool and organises a calculated meeting in it; a later
    pool to carry into; per cell a pool ready to allocate and an allocated one."""
    client, operator, akishima = world.client, world.signer(OPERATOR), world.signer(AKISHIMA)
    client.execute(operator, KWH_TABLE)
    client.execute(operator, c.OpenPool(LATER_POOL, "みどり東京", 2012, (AKISHIMA,)))
    client.execute(akishima, c.FundPool(POOL, 1_000))
    client.execute(akishima, registration(POOL, MEETING))
    client.execute(akishima, result(POOL, MEETING))
    for n in range(CELL_POOLS):
        for pool_id in (allocate_pool(n), retire_pool(n)):
            client.execute(operator, c.OpenPool(pool_id, "共同購入", 2011, (AKISHIMA,)))
            client.execute(akishima, c.FundPool(pool_id, MEETING_KG))
            client.execute(akishima, registration(pool_id, MEETING))
            client.execute(akishima, result(pool_id, MEETING))
        client.execute(operator, c.AllocatePool(retire_pool(n), MEETING_KG))


def attribute_bodies() -> dict[str, Body]:
    return {
        "AddLabel (the issuer is the class's label authority)": lambda actor, n: c.AddLabel(
            batch_of("LABELLED"), n, n, f"MATRIX-{n}", *VALID
        ),
        "AddLabel (another party is the class's label authority)": lambda actor, n: c.AddLabel(
            batch_of("OTHER"), n, n, f"MATRIX-{n}", *VALID
        ),
        "WithdrawLabel (the issuer is the class's label authority)": lambda actor, n: (
            c.WithdrawLabel(batch_of("LABELLED"), n, n, WITHDRAWN, "matrix")
        ),
        "ReportReversal (class issued by the issuer, with a buffer)": lambda actor, n: (
            c.ReportReversal("BUFFERED01", 1, "山林火災")
        ),
    }


def pool_bodies() -> dict[str, Body]:
    return {
        "FundPool (a pool Akishima is a member of)": lambda actor, n: c.FundPool(POOL, 1),
        "RegisterMeeting (a pool Akishima is a member of)": lambda actor, n: registration(
            POOL, f"MATRIX-{n}"
        ),
        "RecordMeetingResult (Akishima's meeting)": lambda actor, n: result(POOL, MEETING),
        "AllocatePool (a pool the operator opened)": lambda actor, n: c.AllocatePool(
            allocate_pool(n), MEETING_KG
        ),
        "RetireForMeeting (a pool the operator opened and allocated)": lambda actor, n: (
            c.RetireForMeeting(retire_pool(n), MEETING)
        ),
        "ReturnPoolRemainder (to Akishima, who funded it)": lambda actor, n: c.ReturnPoolRemainder(
            POOL, AKISHIMA, 1
        ),
        "CarryPoolRemainder (into the operator's FY2012 pool)": lambda actor, n: (
            c.CarryPoolRemainder(POOL, LATER_POOL, 1)
        ),
    }


def recovery_key_bodies() -> dict[str, Body]:
    return {
        "SetRecoveryKey (own, none set yet)": lambda actor, n: c.SetRecoveryKey(
            actor, SigningKey.generate().public_key
        ),
        "SetRecoveryKey (another party's)": lambda actor, n: c.SetRecoveryKey(
            f"victim-{n % CELL_POOLS}", SigningKey.generate().public_key
        ),
    }
