"""Readers that verify the chain instead of every countersignature: the write side's catch-up,
a projection catch-up from the embedded log and the audit check every hash link and one
countersignature per run, on its last envelope. An envelope altered in the middle of a run
is refused at its own position, and nothing from it on is applied, projected or rebuilt;
a clean history whose registry key rotated in the middle verifies; a start-up from a
snapshot verifies what follows it as a chain anchored at the snapshot's head."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from projections.runner import catch_up_embedded, catch_up_kafka
from projections.store import ProjectionStore
from registry.audit.auditor import Auditor
from registry.audit.replay import ALTERED
from registry.audit.sources import DatabaseSource
from registry.domain import events as ev
from registry.envelope.codec import Codec
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import (
    SEALED_SCHEMA,
    EnvelopeError,
    envelope_hash,
    open_sealed,
    seal,
)
from registry.log import GapError, record_for
from registry.log.embedded import EmbeddedLog
from registry.log.kafka import KafkaPublisher
from registry.relay.positions import RelayPositions
from registry.relay.publishing import Relay
from registry.transparency.chain import ChainHead, verified_runs
from registry.transparency.registry_keys import (
    RegistryKeyHistory,
    follow_envelope,
    rotation_command,
)
from registry.write.application import RegistryApplication
from registry.write.persistence import event_store_recorder
from tests.support.helpers import OPERATOR, World, build_world
from tests.support.history import random_history

CODEC = Codec()
SCHEMAS = CODEC.schemas


@dataclasses.dataclass
class Chain:
    """A history sealed by one registry key, then (after a handover) by another, in the
    event store and relayed to the embedded log beside it."""

    world: World
    url: str
    path: Path
    keys: tuple[SigningKey, SigningKey]
    rotation: int  # the handover's position: the last the first key seals

    @property
    def pinned(self) -> dict[str, bytes]:
        return {self.keys[0].key_id: self.keys[0].public_key}

    @property
    def head(self) -> int:
        return self.world.app.ledger.position

    def sealed(self) -> dict[int, bytes]:
        return {e.body.position: e.sealed_bytes for e in self.world.app.read_envelopes()}

    def a_transfer_after(self, position: int) -> int:
        """The first position after `position` whose first effect is a transfer."""
        for envelope in self.world.app.read_envelopes(position):
            if isinstance(CODEC.decode_event(envelope.body.effects[0]), ev.CreditsTransferred):
                return envelope.body.position
        raise AssertionError("no transfer in the history")

    def replace(self, replacements: dict[int, bytes]) -> None:
        """Overwrite envelopes in the store and in the embedded log, as someone with write
        access to the database (but not the registry key) can."""
        with sqlite3.connect(self.path) as database:
            for position, sealed in replacements.items():
                database.execute(
                    "UPDATE registry_events SET state = ? WHERE originator_version = ?",
                    (sealed, position),
                )
                database.execute(
                    "UPDATE embedded_log SET record_value = ? WHERE position = ?",
                    (sealed, position),
                )
        database.close()


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    path = tmp_path / "registry.sqlite"
    url = f"sqlite:///{path}?timeout=30"
    first, second = SigningKey.generate(), SigningKey.generate()
    app = RegistryApplication(url, first, further_registry_keys=[second])
    world = build_world(app)
    random_history(world, 120, seed=21)
    rotation = app.ledger.position + 1
    world.ok(OPERATOR, rotation_command(first, second.public_key, rotation))
    random_history(world, 200, seed=22)
    engine = sa.create_engine(url)
    Relay(event_store_recorder(url), EmbeddedLog(engine), RelayPositions(engine)).run(
        threading.Event(), exit_when_caught_up=True
    )
    engine.dispose()
    return Chain(world, url, path, (first, second), rotation)


# -- ways to alter an envelope without the registry's key ------------------------------------
def wrapped(body_bytes: bytes, like: bytes) -> bytes:
    """A sealed envelope of `body_bytes` carrying the countersignature of `like`."""
    opened = open_sealed(SCHEMAS, like)
    record = {
        "body": body_bytes,
        "registry_key_id": opened.registry_key_id,
        "registry_signature": opened.registry_signature,
    }
    return SCHEMAS.encode(SEALED_SCHEMA, record)


def resealed_body(sealed: bytes) -> bytes:
    """The transfer's memo changed, the body encoded again, the countersignature kept."""
    opened = open_sealed(SCHEMAS, sealed)
    events = [CODEC.decode_event(effect) for effect in opened.body.effects]
    events[0] = dataclasses.replace(events[0], memo="altered")  # type: ignore[type-var]
    body = dataclasses.replace(opened.body, effects=tuple(CODEC.encode_events(events)))
    body_bytes = open_sealed(SCHEMAS, seal(SCHEMAS, body, SigningKey.generate())).body_bytes
    return wrapped(body_bytes, sealed)


def flipped_effect_byte(sealed: bytes) -> bytes:
    """One bit of the first effect's last byte flipped, in place."""
    opened = open_sealed(SCHEMAS, sealed)
    effect = opened.body.effects[0]
    at = opened.body_bytes.index(effect) + len(effect) - 1
    body = bytearray(opened.body_bytes)
    body[at] ^= 0x01
    return wrapped(bytes(body), sealed)


def forged_countersignature(sealed: bytes) -> bytes:
    """The body untouched, countersigned by another key under the registry key's id."""
    opened = open_sealed(SCHEMAS, sealed)
    impostor = SigningKey.generate()
    record = {
        "body": opened.body_bytes,
        "registry_key_id": opened.registry_key_id,
        "registry_signature": impostor.sign(opened.body_bytes),
    }
    return SCHEMAS.encode(SEALED_SCHEMA, record)


def flipped_actor_signature(sealed: bytes) -> bytes:
    """One bit of the actor's signature flipped: the rules see nothing different."""
    opened = open_sealed(SCHEMAS, sealed)
    signature = opened.body.command.signature
    at = opened.body_bytes.index(signature)
    body = bytearray(opened.body_bytes)
    body[at] ^= 0x01
    return wrapped(bytes(body), sealed)


Alteration = Callable[[dict[int, bytes], int], dict[int, bytes]]


def only(change: Callable[[bytes], bytes]) -> Alteration:
    """Alter the envelope at k alone: the link after it breaks."""

    def alter(sealed: dict[int, bytes], k: int) -> dict[int, bytes]:
        return {k: change(sealed[k])}

    alter.__name__ = change.__name__
    return alter


def rechained(sealed: dict[int, bytes], k: int) -> dict[int, bytes]:
    """The actor's signature at k flipped, and every later envelope's previous_hash
    rewritten to the new chain, each keeping its own countersignature: every link holds,
    so only the countersignatures (all wrong from k on) can tell."""
    replacements = {k: flipped_actor_signature(sealed[k])}
    for position in range(k + 1, max(sealed) + 1):
        opened = open_sealed(SCHEMAS, sealed[position])
        previous = envelope_hash(replacements[position - 1])
        body = opened.body_bytes.replace(opened.body.previous_hash, previous, 1)
        replacements[position] = wrapped(body, sealed[position])
    return replacements


ALTERATIONS = (
    only(resealed_body),
    only(flipped_effect_byte),
    only(forged_countersignature),
    rechained,
)


@pytest.mark.parametrize("alteration", ALTERATIONS, ids=lambda a: a.__name__)
def test_an_envelope_altered_mid_run_is_refused_at_its_position_by_every_reader(
    chain: Chain, alteration: Alteration, tmp_path: Path
) -> None:
    k = chain.a_transfer_after(chain.rotation + 40)  # well inside the run after the handover
    assert chain.rotation + 1 < k < chain.head - 40
    chain.replace(alteration(chain.sealed(), k))

    # The write side, catching up after a restart: everything before k, nothing from k on.
    app = RegistryApplication(
        chain.url, chain.keys[1], defer_catch_up=True, pinned_registry_keys=chain.pinned
    )
    with pytest.raises(EnvelopeError) as refused:
        app.catch_up()
    assert refused.value.position == k, refused.value
    assert app.ledger.position == k - 1

    # A projection catch-up from the embedded log, one envelope per transaction.
    log = EmbeddedLog(sa.create_engine(chain.url), registry_public_keys=chain.pinned)
    store = ProjectionStore(f"sqlite:///{tmp_path / 'projections.sqlite'}")
    with pytest.raises(GapError) as gap:
        catch_up_embedded(store, log, batch_envelopes=1)
    assert gap.value.position == k
    assert [q.position for q in log.quarantined] == [k]
    assert (store.applied_count(), store.contiguous_head()) == (k - 1, k - 1)

    # The audit: altered after sealing at k, stopped there, nothing from k on rebuilt.
    rebuilt = tmp_path / "rebuilt.sqlite"
    report = Auditor(chain.pinned, workers=2, progress=False, keep_projection=rebuilt).run(
        DatabaseSource(chain.url)
    )
    assert [(d.position, d.reason) for d in report.discrepancies] == [(k, ALTERED)]
    assert report.stopped is not None and report.stopped.position == k
    assert ProjectionStore(f"sqlite:///{rebuilt}").contiguous_head() == k - 1


def test_the_last_envelope_altered_is_found_by_the_runs_countersignature(
    chain: Chain, tmp_path: Path
) -> None:
    """No link follows the last envelope: only its own countersignature can tell."""
    last = chain.head
    chain.replace({last: forged_countersignature(chain.sealed()[last])})
    app = RegistryApplication(
        chain.url, chain.keys[1], defer_catch_up=True, pinned_registry_keys=chain.pinned
    )
    with pytest.raises(EnvelopeError, match="registry countersignature does not verify"):
        app.catch_up()
    assert app.ledger.position == last - 1
    report = Auditor(chain.pinned, workers=2, progress=False).run(DatabaseSource(chain.url))
    assert [(d.position, d.reason) for d in report.discrepancies] == [(last, ALTERED)]
    assert report.stopped is not None and report.stopped.position == last


def test_a_clean_history_with_a_rotation_in_the_middle_verifies(
    chain: Chain, tmp_path: Path
) -> None:
    app = RegistryApplication(chain.url, chain.keys[1], pinned_registry_keys=chain.pinned)
    assert app.ledger.position == chain.head
    assert app.registry_key.key_id == chain.keys[1].key_id  # followed the handover
    log = EmbeddedLog(sa.create_engine(chain.url), registry_public_keys=chain.pinned)
    store = ProjectionStore(f"sqlite:///{tmp_path / 'projections.sqlite'}")
    assert catch_up_embedded(store, log) == chain.head and not log.quarantined
    report = Auditor(chain.pinned, workers=2, progress=False).run(DatabaseSource(chain.url))
    assert report.clean, report.discrepancies
    # The runs end at the handover, so none is checked under two registry keys.
    history = RegistryKeyHistory(dict(chain.pinned))
    ends = []
    for run in verified_runs(app.read_envelopes(), history, SCHEMAS, ChainHead()):
        for envelope in run:
            follow_envelope(history, CODEC, envelope)
        ends.append(run[-1].body.position)
        assert len({e.registry_key_id for e in run}) == 1
    assert ends == [chain.rotation, chain.head]


def test_a_resumed_projection_catch_up_links_to_what_it_projected(
    chain: Chain, tmp_path: Path
) -> None:
    """After a restart the first link is checked against the envelope projected last: a
    log rewritten beneath the read models is refused where it no longer links."""
    log = EmbeddedLog(sa.create_engine(chain.url), registry_public_keys=chain.pinned)
    store = ProjectionStore(f"sqlite:///{tmp_path / 'projections.sqlite'}")
    projected = chain.head
    assert catch_up_embedded(store, log) == projected
    assert random_history(chain.world, 30, seed=23) and chain.head > projected
    engine = sa.create_engine(chain.url)
    Relay(event_store_recorder(chain.url), EmbeddedLog(engine), RelayPositions(engine)).run(
        threading.Event(), exit_when_caught_up=True
    )
    # The envelope the read models hold last, replaced in the log by an altered copy.
    chain.replace({projected: forged_countersignature(chain.sealed()[projected])})
    with pytest.raises(GapError) as gap:
        catch_up_embedded(store, log)
    assert gap.value.position == projected + 1  # it no longer links to the projected one
    assert "hash chain broken" in log.quarantined[-1].reason
    assert store.contiguous_head() == projected


def test_a_start_up_from_a_snapshot_links_its_first_run_to_the_snapshots_head(
    tmp_path: Path,
) -> None:
    """The write side opens from a verified snapshot and verifies only what follows it, as
    a chain anchored at the snapshot's head hash: clean, it reaches the head; an envelope
    altered after the snapshot is refused at its own position, nothing from it applied."""
    path = tmp_path / "registry.sqlite"
    url = f"sqlite:///{path}?timeout=30"
    key = SigningKey.generate()
    pinned = {key.key_id: key.public_key}
    app = RegistryApplication(url, key, snapshot_interval=None)
    world = build_world(app)
    random_history(world, 100, seed=31)
    snapshot_at = app.write_snapshot()
    assert snapshot_at == app.ledger.position
    random_history(world, 120, seed=32)
    head, head_hash = app.ledger.position, app.ledger.head_hash
    chain = Chain(world, url, path, (key, key), rotation=0)
    k = chain.a_transfer_after(snapshot_at + 20)
    assert k < head
    altered = resealed_body(chain.sealed()[k])
    app.close()

    reopened = RegistryApplication(url, key, snapshot_interval=None, pinned_registry_keys=pinned)
    assert reopened.resumed_from == snapshot_at
    assert (reopened.ledger.position, reopened.ledger.head_hash) == (head, head_hash)
    reopened.close()

    with sqlite3.connect(path) as database:  # no embedded log beside this store
        database.execute(
            "UPDATE registry_events SET state = ? WHERE originator_version = ?", (altered, k)
        )
    database.close()
    restarted = RegistryApplication(
        url, key, defer_catch_up=True, snapshot_interval=None, pinned_registry_keys=pinned
    )
    with pytest.raises(EnvelopeError) as refused:
        restarted.catch_up()
    assert restarted.resumed_from == snapshot_at
    assert refused.value.position == k, refused.value
    assert restarted.ledger.position == k - 1


# -- the Kafka catch-up: one in-order reader over every partition ----------------------------
def publish(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """(key, sealed) records, in this order, with the headers the relay gives them."""
    publisher = KafkaPublisher(bootstrap, topic)
    publisher.publish(
        [dataclasses.replace(record_for(SCHEMAS, sealed), key=key) for key, sealed in records]
    )
    publisher.close()


@pytest.mark.kafka
def test_the_kafka_catch_up_refuses_an_altered_record_and_goes_on_when_the_real_one_comes(
    chain: Chain, kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    sealed = chain.sealed()
    k = chain.a_transfer_after(chain.rotation + 40)
    altered = {**sealed, k: resealed_body(sealed[k])}
    actor = {p: open_sealed(SCHEMAS, s).body.command.actor_id.encode() for p, s in sealed.items()}
    publish(kafka_bootstrap, kafka_topic, [(actor[p], altered[p]) for p in sorted(altered)])
    store = ProjectionStore(f"sqlite:///{tmp_path / 'projections.sqlite'}")
    assert catch_up_kafka(store, kafka_bootstrap, kafka_topic, chain.pinned, workers=0) == k - 1
    assert store.contiguous_head() == k - 1  # nothing from the altered record on
    # The real record, re-sent: the reader goes on from the offsets it stored.
    publish(kafka_bootstrap, kafka_topic, [(actor[k], sealed[k])])
    assert catch_up_kafka(store, kafka_bootstrap, kafka_topic, chain.pinned, workers=0) == (
        chain.head - k + 1
    )
    assert store.contiguous_head() == chain.head


@pytest.mark.kafka
def test_a_forged_record_that_comes_first_does_not_take_the_real_ones_place(
    chain: Chain, kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    """Whoever can write to the topic sends a forgery for position k under another key, on
    another partition, before the relay sends the real one: the real one is projected."""
    sealed = chain.sealed()
    k = chain.a_transfer_after(chain.rotation + 40)
    forgery = forged_countersignature(sealed[k])
    actor = {p: open_sealed(SCHEMAS, s).body.command.actor_id.encode() for p, s in sealed.items()}
    records = [(b"intruder", forgery)] + [(actor[p], sealed[p]) for p in sorted(sealed)]
    publish(kafka_bootstrap, kafka_topic, records)
    store = ProjectionStore(f"sqlite:///{tmp_path / 'projections.sqlite'}")
    assert (
        catch_up_kafka(store, kafka_bootstrap, kafka_topic, chain.pinned, workers=0) == chain.head
    )
    assert store.sealed_at(k) == sealed[k]
