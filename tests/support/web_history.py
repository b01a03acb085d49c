"""A real FY2011 history for the web view's tests: the joint purchase and models I-III
through the write side, a signed checkpoint at the head, relayed to the embedded log and
projected into a SQLite read-model database (what `credit-registry web` serves)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from registry import reference
from registry.domain import commands as c
from registry.envelope.keys import SigningKey
from registry.scenario import partners, tokyo62
from registry.write.application import RegistryApplication
from tests.support.programme import Programme, project


@dataclass(frozen=True)
class WebHistory:
    projection_url: str
    database_url: str
    registry_key: SigningKey
    head: int


def build_fy2011(directory: Path) -> WebHistory:
    directory.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{directory / 'registry.sqlite'}?timeout=30"
    registry_key = SigningKey.generate()
    app = RegistryApplication(database_url, registry_key)
    programme = Programme(app)
    programme.setup()
    for actor, bodies in tokyo62.commands(tokyo62.plan_meetings(reference.emission_factors())):
        programme.ok(actor, bodies)
    programme.ok(
        partners.OPERATOR,
        [
            c.RegisterParty(p, role, name, programme.signer(p).key.public_key)
            for p, role, name in partners.parties()
        ],
    )
    for actor, bodies in partners.commands():
        programme.ok(actor, bodies)
    checkpoint = app.record_checkpoint()
    store = project(database_url, directory)
    return (
        WebHistory(
            f"sqlite:///{directory / 'projections.sqlite'}",
            database_url,
            registry_key,
            checkpoint.tree_size,
        )
        if store
        else WebHistory("", database_url, registry_key, 0)
    )
