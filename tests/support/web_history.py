"""A real FY2011 history for the web view's tests: the joint purchase and models I-III
through the write side, a signed checkpoint at the head, relayed to the embedded log,
optionally replayed and cosigned by witnesses (the real witness, in this process, on the
embedded witness log), and projected into a SQLite read-model database (what
`credit-registry web` serves)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from projections.runner import catch_up_embedded
from projections.store import ProjectionStore
from registry import reference
from registry.domain import commands as c
from registry.envelope.keys import SigningKey
from registry.log.embedded import EmbeddedLog
from registry.relay.positions import RelayPositions
from registry.relay.publishing import Relay
from registry.scenario import partners, tokyo62
from registry.witness.sources import EmbeddedFollow
from registry.witness.state import WitnessState
from registry.witness.witness import Witness
from registry.write.application import RegistryApplication
from registry.write.persistence import event_store_recorder
from tests.support.programme import Programme

WITNESS_CYCLES_MAX = 20  # a witness on a finished embedded log catches up in one or two


@dataclass(frozen=True)
class WebHistory:
    projection_url: str
    database_url: str
    registry_key: SigningKey
    head: int
    witness_keys: dict[str, bytes] = field(default_factory=dict)  # witness id: public key


def cosign(database_url: str, directory: Path, witness_id: str, registry_key: bytes) -> bytes:
    """One witness replays the whole log and cosigns every checkpoint it finds consistent,
    publishing to the embedded witness log; returns its public key."""
    key = SigningKey.generate()
    state = WitnessState(f"sqlite:///{directory / f'{witness_id}.sqlite'}", key.key_id)
    keys = {SigningKey.key_id_of(registry_key): registry_key}
    witness = Witness(witness_id, key, keys, EmbeddedFollow(database_url), state)
    for _ in range(WITNESS_CYCLES_MAX):
        report = witness.cycle()
        if witness.halted is not None:
            raise RuntimeError(f"witness {witness_id} stopped: {witness.halted}")
        if report.caught_up:
            return key.public_key
    raise RuntimeError(f"witness {witness_id} did not catch up in {WITNESS_CYCLES_MAX} cycles")


def build_fy2011(directory: Path, witnesses: Sequence[str] = ()) -> WebHistory:
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
    engine = sa.create_engine(database_url)
    log = EmbeddedLog(engine)
    Relay(event_store_recorder(database_url), log, RelayPositions(engine), "embedded").run(
        threading.Event(), exit_when_caught_up=True
    )
    witness_keys = {
        witness_id: cosign(database_url, directory, witness_id, registry_key.public_key)
        for witness_id in witnesses
    }
    projection_url = f"sqlite:///{directory / 'projections.sqlite'}"
    catch_up_embedded(ProjectionStore(projection_url), log)
    return WebHistory(
        projection_url, database_url, registry_key, checkpoint.tree_size, witness_keys
    )
