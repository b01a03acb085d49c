"""One real registry server per test module (fuzzing thousands of cases against a fresh
server each time would be too slow), with a world whose ids the strategies draw from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest

from registry.client.grpc_client import RegistryClient
from registry.domain import commands as c
from registry.envelope.keys import SigningKey
from registry.service.server import RegistryServer
from registry.support.clock import now_us
from tests.e2e.grpc_world import GrpcWorld, build_grpc_world, issue
from tests.hostile.strategies import Vocabulary
from tests.support.helpers import AKISHIMA, IWAIZUMI, MUSASHINO, OPERATOR, retirement

SACRIFICE = "fuzz-sacrifice"  # a party whose key fuzzed RevokeKey and RotateKey may retire
AGREEMENT = "AKISHIMA-IWAIZUMI"
DAY_US = 24 * 3600 * 1_000_000


@dataclass
class HostileWorld:
    server: RegistryServer
    client: RegistryClient
    world: GrpcWorld
    vocabulary: Vocabulary

    @property
    def signers(self) -> tuple[str, ...]:
        return tuple(self.world.keys)


def populate(world: GrpcWorld) -> Vocabulary:
    """Parties of every role, credits, a retirement, an agreement in force with pending
    deliveries, and a pool: enough for fuzzed commands to be accepted now and then."""
    world.register(SACRIFICE, "business", "Sacrificial business")
    issue(world, 1_000_000, IWAIZUMI)
    issue(world, 1_000_000, AKISHIMA)
    client = world.client
    client.retire(world.signer(AKISHIMA), 1_000, retirement("昭島市"))
    for party in (IWAIZUMI, AKISHIMA):
        client.execute(
            world.signer(party),
            c.SignAgreement(
                AGREEMENT, IWAIZUMI, AKISHIMA, date(2011, 12, 20), 10, 50_000, "森林吸収"
            ),
        )
    for number in (1, 2, 3):
        client.execute(
            world.signer(IWAIZUMI),
            c.ProposeDelivery(
                AGREEMENT, f"DELIVERY-{number}", 2011, 1_000, now_us() + 300 * DAY_US
            ),
        )
    opened = client.execute(
        world.signer(OPERATOR),
        c.OpenPool("TOKYO62-FY2011", "みどり東京", 2011, (AKISHIMA, MUSASHINO)),
    )
    spare = SigningKey.generate()
    batches = tuple(
        sorted(
            {block.batch_id for block in client.holdings(IWAIZUMI, min_position=opened.position)}
        )
    )
    return Vocabulary(
        parties=(*world.keys, "unregistered-party", "131016"),
        keys=(world.keys[SACRIFICE].key_id, spare.key_id, "ed25519:0000000000000000"),
        batches=(*batches, "JVER-IWAIZUMI01-20110401-20120331-999"),
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileWorld]:
    from tests.e2e.grpc_world import start_server

    server = start_server(tmp_path_factory.mktemp("hostile"))
    client = RegistryClient(f"127.0.0.1:{server.port}", timeout_s=30)
    try:
        world = build_grpc_world(client)
        vocabulary = populate(world)
        yield HostileWorld(server, client, world, vocabulary)
    finally:
        client.close()
        server.stop(grace_s=1)
