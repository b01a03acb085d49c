"""The registry as it is deployed with Kafka: the service, the relay and a projection worker
as three processes on PostgreSQL and a real broker. Or the embedded default, one process."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from registry.envelope.keys import SigningKey
from registry.log.kafka import TopicSettings, ensure_topics
from tests.conftest import create_database
from tests.support.processes import (
    SERVICE_START_TIMEOUT_S,
    ManagedProcess,
    RegistryStack,
    StackConfig,
    free_port,
)

REGISTRY_PASSPHRASE = "bench registry passphrase"


@dataclass(frozen=True)
class Running:
    target: str
    database_url: str | None
    service_pid: int


@contextmanager
def deployed(
    scratch: Path, kafka_bootstrap: str | None, postgres_server_url: str | None
) -> Iterator[Running]:
    """With a broker and a server: three processes. Without: `serve` on the embedded default."""
    home = scratch / f"home-{uuid.uuid4().hex[:6]}"
    home.mkdir()
    key_file = home / "registry.key"
    SigningKey.generate().save(key_file, REGISTRY_PASSPHRASE.encode())
    if kafka_bootstrap and postgres_server_url:
        database_url = create_database(postgres_server_url, "bench_store")
        topic = "bench-ingest-" + uuid.uuid4().hex[:8]
        ensure_topics(kafka_bootstrap, TopicSettings(topic=topic))
        config = StackConfig(
            directory=home,
            database_url=database_url,
            projection_url=create_database(postgres_server_url, "bench_projections"),
            kafka_bootstrap=kafka_bootstrap,
            topic=topic,
            key_file=key_file,
            key_passphrase=REGISTRY_PASSPHRASE,
            port=free_port(),
        )
        stack = RegistryStack(config)
        try:
            stack.start_all(worker_count=1)
            assert stack.service is not None
            yield Running(stack.target, database_url, stack.service.pid)
        finally:
            stack.stop_all()
        return
    target = f"127.0.0.1:{free_port()}"
    service = ManagedProcess(
        "service",
        [
            *(sys.executable, "-m", "registry.cli", "--home", str(home)),
            *("serve", "--listen", target, "--registry-key", str(key_file)),
        ],
        dict(os.environ, CREDIT_REGISTRY_REGISTRY_PASSPHRASE=REGISTRY_PASSPHRASE),
        home / "processes.log",
    )
    try:
        service.wait_for_line("serving embedded on port", SERVICE_START_TIMEOUT_S)
        yield Running(target, None, service.pid)
    finally:
        service.stop()
