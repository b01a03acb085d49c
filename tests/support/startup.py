"""Stores large enough that start-up takes a while, and `credit-registry serve` over them:
for the start-up probe test and the start-up row of the benchmark.

A store is a home directory as `serve` expects it: HOME/registry.sqlite and the registry's
key file. Histories come from random_history in batches (submit_batch), the fastest way to
record many envelopes; copies at smaller sizes are taken on the way with SQLite's backup,
which copies a consistent state even in write-ahead-log mode. Stores have no snapshot
unless asked for (one at each size's head), and `serve` writes none unless asked to: the
start-up probe test needs a start that replays the whole chain."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from registry.cli.home import REGISTRY_PASSPHRASE_VARIABLE, Home
from registry.envelope.keys import SigningKey
from registry.write.application import RegistryApplication
from tests.support.helpers import build_world
from tests.support.history import random_history

KEY_PASSPHRASE = "start-up registry passphrase"
GENERATION_CHUNK_COMMANDS = 5_000
GENERATION_BATCH_COMMANDS = 1_000


class Clock(Protocol):
    def read(self) -> int: ...

    def tick(self) -> int: ...


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
    directory: Path,
    sizes: Sequence[int],
    seed: int = 3,
    grow_for_s: float = 0.0,
    clock: Clock | None = None,
    snapshots: bool = False,
) -> list[Store]:
    """One store per size in `sizes` (ascending), each holding that many envelopes, all one
    history signed by one registry key: directory/store-<size>/. With `grow_for_s`, the
    largest keeps growing, a chunk at a time, until generating it has taken that long: a
    history sized by this machine's speed rather than by a count. With `clock` (simulated,
    a tick per command), commands are created and decided at its time, so that command ids
    expire as they would in service; with `snapshots`, each store has one at its head."""
    assert list(sizes) == sorted(sizes) and sizes, sizes
    started_s = time.monotonic()
    key = SigningKey.generate()
    largest = directory / f"store-{sizes[-1]}"
    largest.mkdir(parents=True)
    app = RegistryApplication(
        Home(largest).database_url,
        key,
        snapshot_interval=None,
        **({} if clock is None else {"clock_us": clock.read}),
    )
    world = build_world(app)
    created = None if clock is None else clock.tick
    stores = []
    for size in sizes:
        last = size == sizes[-1]
        while last and time.monotonic() - started_s < grow_for_s:
            random_history(
                world,
                GENERATION_BATCH_COMMANDS,
                seed=seed,
                batch_size=GENERATION_BATCH_COMMANDS,
                clock_us=created,
            )
            seed += 1_000
        while app.ledger.position < size:
            # Refused commands record nothing: top up until the size is reached.
            wanted = min(GENERATION_CHUNK_COMMANDS, size - app.ledger.position)
            random_history(
                world, wanted, seed=seed, batch_size=GENERATION_BATCH_COMMANDS, clock_us=created
            )
            seed += 1_000
        if snapshots:
            app.write_snapshot()
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


def serve_environment(metrics_port: int, snapshot_interval: int = 0) -> dict[str, str]:
    """As the chart sets it: metrics (and so /livez and /readyz) on their own port. No
    snapshots written unless `snapshot_interval` is given (see above)."""
    return dict(
        os.environ,
        **{
            REGISTRY_PASSPHRASE_VARIABLE: KEY_PASSPHRASE,
            "CREDIT_REGISTRY_METRICS_PORT": str(metrics_port),
            "CREDIT_REGISTRY_LOG_FORMAT": "text",
            "CREDIT_REGISTRY_SNAPSHOT_INTERVAL": str(snapshot_interval),
        },
    )
