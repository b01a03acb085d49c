"""A registry server on a localhost port, and a small world of parties built through it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from registry.client.command_signer import CommandSigner
from registry.client.grpc_client import RegistryClient
from registry.domain import commands as c
from registry.envelope.codec import Codec
from registry.envelope.keys import SigningKey
from registry.service.server import RegistryServer, ServerConfig, TlsFiles
from tests.support.helpers import AKISHIMA, AUDITOR, ISSUER, IWAIZUMI, MUSASHINO, OPERATOR, PROJECT


def start_server(
    directory: Path,
    tls: TlsFiles | None = None,
    max_message_bytes: int = 4 * 1024 * 1024,
    metrics_port: int | None = None,
) -> RegistryServer:
    config = ServerConfig(
        listen="127.0.0.1:0",
        database_url=f"sqlite:///{directory / 'registry.sqlite'}?timeout=30",
        projection_url=f"sqlite:///{directory / 'projections.sqlite'}",
        registry_key=SigningKey.generate(),
        tls=tls,
        max_message_bytes=max_message_bytes,
        metrics_port=metrics_port,
    )
    server = RegistryServer(config)
    server.start()
    return server


@dataclass
class GrpcWorld:
    client: RegistryClient
    codec: Codec = field(default_factory=Codec)
    keys: dict[str, SigningKey] = field(default_factory=dict)

    def signer(self, party_id: str) -> CommandSigner:
        return CommandSigner(self.codec, party_id, self.keys[party_id])

    def register(self, party_id: str, role: str, name: str) -> None:
        self.keys[party_id] = SigningKey.generate()
        self.client.execute(
            self.signer(OPERATOR),
            c.RegisterParty(party_id, role, name, self.keys[party_id].public_key),
        )


def build_grpc_world(client: RegistryClient) -> GrpcWorld:
    world = GrpcWorld(client)
    world.keys[OPERATOR] = SigningKey.generate()
    client.execute(
        world.signer(OPERATOR),
        c.RegisterParty(OPERATOR, "operator", "Secretariat", world.keys[OPERATOR].public_key),
    )
    world.register(ISSUER, "issuer", "J-VER provider")
    for party_id, name in (
        (AKISHIMA, "Akishima"),
        (IWAIZUMI, "Iwaizumi"),
        (MUSASHINO, "Musashino"),
    ):
        world.register(party_id, "municipality", name)
    world.register(AUDITOR, "auditor", "Audit office")
    client.execute(world.signer(OPERATOR), c.RegisterCreditClass("JVER", "J-VER", (ISSUER,)))
    client.execute(
        world.signer(ISSUER),
        c.RegisterProject(PROJECT, "JVER", "Iwaizumi forest", "Iwate", "FM", IWAIZUMI),
    )
    return world


def issue(world: GrpcWorld, quantity_kg: int, recipient: str) -> int:
    body = c.IssueCredits(PROJECT, date(2011, 4, 1), date(2012, 3, 31), quantity_kg, recipient)
    return int(world.client.execute(world.signer(ISSUER), body).position)
