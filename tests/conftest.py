"""Shared fixtures. PostgreSQL is the real server started by scripts/postgres.sh: a test
that needs it fails (never skips) when it cannot be started."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from registry.envelope.keys import SigningKey
from registry.write.application import RegistryApplication
from tests.support.helpers import World, build_world

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def registry_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'registry.sqlite'}?timeout=30"


@pytest.fixture
def app(sqlite_url: str, registry_key: SigningKey) -> RegistryApplication:
    return RegistryApplication(sqlite_url, registry_key)


@pytest.fixture
def world(app: RegistryApplication) -> World:
    return build_world(app)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The base URL of the real PostgreSQL server; started here unless already running."""
    url = os.environ.get("CREDIT_REGISTRY_TEST_POSTGRES_URL")
    started = False
    if not url:
        subprocess.run(
            ["bash", str(ROOT / "scripts/postgres.sh"), "start"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        started = True
        url = subprocess.run(
            ["bash", str(ROOT / "scripts/postgres.sh"), "url"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    yield url
    if started and not os.environ.get("CREDIT_REGISTRY_KEEP_POSTGRES"):
        subprocess.run(
            ["bash", str(ROOT / "scripts/postgres.sh"), "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
        )


def create_database(server_url: str, prefix: str = "test") -> str:
    """A fresh, empty database on the server at `server_url`; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the real server for one test, dropped after it."""
    url = create_database(postgres_server)
    yield url
    name = url.rsplit("/", 1)[1]
    admin = sqlalchemy.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The real Apache Kafka broker from scripts/kafka.sh; started here unless already
    running. A broker that cannot start fails the tests that need it."""
    bootstrap = os.environ.get("CREDIT_REGISTRY_TEST_KAFKA")
    started = False
    if not bootstrap:
        subprocess.run(
            ["bash", str(ROOT / "scripts/kafka.sh"), "start"], check=True, stdout=subprocess.DEVNULL
        )
        started = True
        bootstrap = "127.0.0.1:" + os.environ.get("KAFKA_PORT", "9092")
    yield bootstrap
    if started and not os.environ.get("CREDIT_REGISTRY_KEEP_KAFKA"):
        subprocess.run(
            ["bash", str(ROOT / "scripts/kafka.sh"), "stop"], check=False, stdout=subprocess.DEVNULL
        )


@pytest.fixture
def kafka_topic(kafka_bootstrap: str) -> str:
    """A fresh envelope topic (and its quarantine topic) for one test."""
    from registry.log.kafka import TopicSettings, ensure_topics

    name = "test-envelopes-" + uuid.uuid4().hex[:10]
    ensure_topics(kafka_bootstrap, TopicSettings(topic=name, partitions=3))
    return name


@pytest.fixture
def programme(sqlite_url: str, registry_key: SigningKey):  # type: ignore[no-untyped-def]
    """The secretariat, the 62 and Iwaizumi, and a J-VER provider, registered on the write side."""
    from tests.support.programme import Programme

    running = Programme(RegistryApplication(sqlite_url, registry_key))
    running.setup()
    return running
