"""A real registry server on a localhost port, and a client connected to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.client.grpc_client import RegistryClient
from registry.service.server import RegistryServer
from tests.e2e.grpc_world import start_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RegistryServer]:
    running = start_server(tmp_path)
    yield running
    running.stop(grace_s=1)


@pytest.fixture
def client(server: RegistryServer) -> Iterator[RegistryClient]:
    with RegistryClient(f"127.0.0.1:{server.port}") as connected:
        yield connected
