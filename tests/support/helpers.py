"""A small world of parties for tests: an operator, municipalities and an issuer with keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from registry.client.command_signer import CommandSigner
from registry.domain import commands as c
from registry.domain.events import Beneficiary
from registry.domain.results import CommandResult
from registry.envelope.keys import SigningKey
from registry.write.application import RegistryApplication

OPERATOR = "tokyo-62-secretariat"
ISSUER = "jver-provider"
AKISHIMA = "132071"
IWAIZUMI = "034835"
MUSASHINO = "132039"
AUDITOR = "metropolitan-audit"
PROJECT = "IWAIZUMI01"


@dataclass
class World:
    app: RegistryApplication
    keys: dict[str, SigningKey] = field(default_factory=dict)

    def signer(self, party_id: str) -> CommandSigner:
        return CommandSigner(self.app.codec, party_id, self.keys[party_id])

    def run(self, party_id: str, body: c.CommandBody) -> CommandResult:
        return self.app.submit(self.signer(party_id).sign(body))

    def ok(self, party_id: str, body: c.CommandBody) -> CommandResult:
        result = self.run(party_id, body)
        assert result.accepted, result
        return result

    def register(self, party_id: str, role: str, name: str) -> None:
        self.keys[party_id] = SigningKey.generate()
        self.ok(OPERATOR, c.RegisterParty(party_id, role, name, self.keys[party_id].public_key))

    def issue(self, quantity_kg: int, recipient: str) -> str:
        result = self.ok(
            ISSUER,
            c.IssueCredits(PROJECT, date(2011, 4, 1), date(2012, 3, 31), quantity_kg, recipient),
        )
        return self.app.ledger.holdings_of(recipient)[-1].batch_id if result.position else ""


def build_world(app: RegistryApplication) -> World:
    world = World(app)
    world.keys[OPERATOR] = SigningKey.generate()
    world.ok(
        OPERATOR,
        c.RegisterParty(
            OPERATOR, "operator", "Tokyo 62 secretariat", world.keys[OPERATOR].public_key
        ),
    )
    world.register(ISSUER, "issuer", "J-VER provider")
    world.register(AKISHIMA, "municipality", "Akishima")
    world.register(IWAIZUMI, "municipality", "Iwaizumi")
    world.register(MUSASHINO, "municipality", "Musashino")
    world.register(AUDITOR, "auditor", "Metropolitan audit office")
    world.ok(OPERATOR, c.RegisterCreditClass("JVER", "J-VER", (ISSUER,)))
    world.ok(
        ISSUER,
        c.RegisterProject(
            PROJECT,
            "JVER",
            "Iwaizumi town forest",
            "Iwaizumi, Iwate",
            "J-VER forest management",
            IWAIZUMI,
        ),
    )
    return world


def retirement(beneficiary: str, year: int = 2011) -> c.RetirementDetails:
    return c.RetirementDetails(Beneficiary(beneficiary, None), "residual_emissions", year)
