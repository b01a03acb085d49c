"""Stores large enough that start-up takes a while, and `credit-registry serve` over them:
for the start-up probe test and the start-up row of the benchmark.

A store is a home directory as `serve` expects it: HOME/registry.sqlite and the registry's
key file. Histories come from random_history in batches (submit_batch), the fastest way to
record many envelopes; copies at smaller sizes are taken on the way with SQLite's backup,
which copies a consistent state even in write-ahead-log mode."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from registry.cli.home import REGISTRY_PASSPHRASE_VARIABLE, Home
from registry.envelope.keys import SigningKey
from registry.write.application import RegistryApplication
from tests.support.helpers import build_world
from tests.support.history import random_history

KEY_PASSPHRASE = "start-up registry passphrase"
GENERATION_CHUNK_COMMANDS = 5_000
GENERATION_BATCH_COMMANDS = 1_000


@dataclass(frozen=True)
class Store:
    home: Path
    envelopes: int

    @property
    def key_file(self) -> Path:
        return Home(self.home).registry_key_path

    @property
    def database_url(self) -> str:
        return Home(self.home).database_url

    def registry_key(self) -> SigningKey:
        return SigningKey.load(self.key_file, KEY_PASSPHRASE.encode())


def build_stores(
    directory: Path, sizes: Sequence[int], seed: int = 3, grow_for_s: float = 0.0
) -> list[Store]:
    """One store per size in `sizes` (ascending), each holding that many envelopes, all one
    history signed by one registry key: directory/store-<size>/. With `grow_for_s`, the
    largest keeps growing, a chunk at a time, until generating it has taken that long: a
    history sized by this machine's speed rather than by a count."""
    assert list(sizes) == sorted(sizes) and sizes, sizes
    started_s = time.monotonic()
    key = SigningKey.generate()
    largest = directory / f"store-{sizes[-1]}"
    largest.mkdir(parents=True)
    app = RegistryApplication(Home(largest).database_url, key)
    world = build_world(app)
    stores = []
    for size in sizes:
        last = size == sizes[-1]
        while last and time.monotonic() - started_s < grow_for_s:
            random_history(
                world, GENERATION_BATCH_COMMANDS, seed=seed, batch_size=GENERATION_BATCH_COMMANDS
            )
            seed += 1_000
        while app.ledger.position < size:
            # Refused commands record nothing: top up until the size is reached.
            wanted = min(GENERATION_CHUNK_COMMANDS, size - app.ledger.position)
            random_history(world, wanted, seed=seed, batch_size=GENERATION_BATCH_COMMANDS)
            seed += 1_000
        home = directory / f"store-{size}"
        if home != largest:
            home.mkdir()
            _backup(largest / "registry.sqlite", home / "registry.sqlite")
        key.save(Home(home).registry_key_path, KEY_PASSPHRASE.encode())
        stores.append(Store(home, app.ledger.position))
    app.close()
    return stores


def _backup(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as reading, sqlite3.connect(target) as writing:
        reading.backup(writing)
    reading.close()
    writing.close()


def serve_command(store: Store, listen: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "registry.cli",
        "--home",
        str(store.home),
        "serve",
        "--listen",
        listen,
    ]


def serve_environment(metrics_port: int) -> dict[str, str]:
    """As the chart sets it: metrics (and so /livez and /readyz) on their own port."""
    return dict(
        os.environ,
        **{
            REGISTRY_PASSPHRASE_VARIABLE: KEY_PASSPHRASE,
            "CREDIT_REGISTRY_METRICS_PORT": str(metrics_port),
            "CREDIT_REGISTRY_LOG_FORMAT": "text",
        },
    )
