"""The FY2011 programme driven straight through the write side, for integration tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
import sqlalchemy

from projections.runner import catch_up_embedded
from projections.store import ProjectionStore
from registry import reference
from registry.client.command_signer import CommandSigner
from registry.domain import commands as c
from registry.domain.checks import CheckCode
from registry.envelope.codec import Codec
from registry.envelope.keys import SigningKey
from registry.log.embedded import EmbeddedLog
from registry.relay.positions import RelayPositions
from registry.relay.publishing import Relay
from registry.scenario import tokyo62
from registry.write.application import RegistryApplication
from registry.write.persistence import event_store_recorder


class Programme:
    def __init__(self, app: RegistryApplication) -> None:
        self.app = app
        self.codec = Codec()
        self.keys: dict[str, SigningKey] = {}

    def signer(self, party_id: str) -> CommandSigner:
        self.keys.setdefault(party_id, SigningKey.generate())
        return CommandSigner(self.codec, party_id, self.keys[party_id])

    def send(self, actor: str, bodies: Sequence[c.CommandBody]) -> list[CheckCode | None]:
        signer = self.signer(actor)
        return [r.code for r in self.app.submit_batch([signer.sign(body) for body in bodies])]

    def ok(self, actor: str, bodies: Sequence[c.CommandBody]) -> None:
        assert self.send(actor, bodies) == [None] * len(bodies)

    def setup(self) -> None:
        operator = tokyo62.OPERATOR
        self.ok(
            operator,
            [
                c.RegisterParty(
                    operator, "operator", "Secretariat", self.signer(operator).key.public_key
                )
            ],
        )
        self.ok(
            operator,
            [
                c.RegisterParty(
                    m.code, "municipality", m.name_en, self.signer(m.code).key.public_key, m.name_ja
                )
                for m in reference.municipalities()
            ],
        )
        self.ok(
            operator,
            [
                c.RegisterParty(
                    tokyo62.PROVIDER,
                    "issuer",
                    "J-VER",
                    self.signer(tokyo62.PROVIDER).key.public_key,
                ),
                c.RegisterCreditClass("JVER", "J-VER", (tokyo62.PROVIDER,)),
            ],
        )
        self.ok(
            tokyo62.PROVIDER,
            [
                c.RegisterProject(
                    tokyo62.PROJECT_ID, "JVER", "Forest", "Japan", "FM", tokyo62.PROVIDER
                )
            ],
        )


@pytest.fixture
def programme(sqlite_url: str, registry_key: SigningKey) -> Programme:
    running = Programme(RegistryApplication(sqlite_url, registry_key))
    running.setup()
    return running


def project(sqlite_url: str, tmp_path) -> ProjectionStore:  # type: ignore[no-untyped-def]
    engine = sqlalchemy.create_engine(sqlite_url)
    log = EmbeddedLog(engine)
    Relay(event_store_recorder(sqlite_url), log, RelayPositions(engine), "embedded").run(
        threading.Event(), exit_when_caught_up=True
    )
    store = ProjectionStore(f"sqlite:///{tmp_path / 'projections.sqlite'}")
    catch_up_embedded(store, log)
    return store
