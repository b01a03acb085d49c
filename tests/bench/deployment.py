"""The registry as it is deployed with Kafka: the service, the relay and a projection worker
as three processes on PostgreSQL and a real broker. Or the embedded default, one process."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from registry.log.kafka import TopicSettings, ensure_topics
from registry.signing import SigningKey

ROOT = Path(__file__).resolve().parents[2]
REGISTRY_PASSPHRASE = "bench registry passphrase"
STOP_TIMEOUT_S = 60


@dataclass(frozen=True)
class Running:
    target: str
    database_url: str | None
    service_pid: int


def fresh_database(server_url: str, purpose: str) -> str:
    name = f"bench_{purpose}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@contextmanager
def deployed(
    scratch: Path, kafka_bootstrap: str | None, postgres_server_url: str | None
) -> Iterator[Running]:
    """With a broker and a server: three processes. Without: `serve` on the embedded default."""
    home = scratch / f"home-{uuid.uuid4().hex[:6]}"
    home.mkdir()
    key_file = home / "registry.key"
    SigningKey.generate().save(key_file, REGISTRY_PASSPHRASE.encode())
    environment = dict(os.environ, CREDIT_REGISTRY_REGISTRY_PASSPHRASE=REGISTRY_PASSPHRASE)
    cli = [sys.executable, "-m", "registry.cli", "--home", str(home)]
    serve = [*cli, "serve", "--listen", "127.0.0.1:0", "--registry-key", str(key_file)]
    processes: list[subprocess.Popen[str]] = []
    database_url = None
    if kafka_bootstrap and postgres_server_url:
        database_url = fresh_database(postgres_server_url, "store")
        projection_url = fresh_database(postgres_server_url, "projections")
        topic = "bench-ingest-" + uuid.uuid4().hex[:8]
        ensure_topics(kafka_bootstrap, TopicSettings(topic=topic))
        environment.update(
            CREDIT_REGISTRY_KAFKA=kafka_bootstrap,
            CREDIT_REGISTRY_TOPIC=topic,
            CREDIT_REGISTRY_DATABASE_URL=database_url,
        )
        serve += ["--projection-url", projection_url]
        workers = [
            [*cli, "relay", "--database-url", database_url],
            [*cli, "projections", "run", "--projection-url", projection_url],
        ]
    else:
        workers = []
    service = subprocess.Popen(serve, stdout=subprocess.PIPE, text=True, env=environment, cwd=ROOT)
    processes.append(service)
    try:
        for command in workers:
            processes.append(subprocess.Popen(command, env=environment, cwd=ROOT, text=True))
        assert service.stdout is not None
        line = service.stdout.readline()
        if not line.startswith("serving"):
            raise RuntimeError(f"the service did not start: {line!r}")
        yield Running("127.0.0.1:" + line.split()[-1], database_url, service.pid)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=STOP_TIMEOUT_S)
