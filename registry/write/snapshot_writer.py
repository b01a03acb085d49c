"""Writing snapshots in the background, never on a command's path.

The write side tells the writer its position after every commit and catch-up (a comparison
of two numbers). Every `interval` positions the writer's own thread takes a consistent copy
of the state under the writer lock (the ledger's tables are copied, not their immutable
values: milliseconds), then serialises, signs and stores it outside the lock. A failure is
logged and the next interval tries again; commands never wait for it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from registry.envelope.keys import SigningKey
from registry.write.snapshots import SnapshotState, SnapshotStore, make_snapshot

SNAPSHOT_INTERVAL_ENVELOPES = 10_000

logger = logging.getLogger(__name__)
Capture = Callable[[], tuple[SnapshotState, SigningKey] | None]


class SnapshotWriter:
    def __init__(
        self,
        capture: Capture,
        lock: AbstractContextManager[object],
        store: SnapshotStore,
        interval: int | None,
    ) -> None:
        """`capture`, called holding `lock` (the writer lock): a consistent copy of the
        state and the key to sign it with, or None when there is nothing to snapshot (an
        empty chain, a key this process lacks). `interval` None: no background snapshots
        (write_now still writes one)."""
        self.capture = capture
        self.lock = lock
        self.store = store
        self.interval = interval
        self.last_position = 0  # the newest snapshot this process knows of
        self.head = 0  # the position the write side reached
        self._retry_at = 0  # after a failure, the position to try again at
        self.last_pause_s = 0.0  # how long the last capture held the writer lock
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._writing = threading.Lock()
        self._thread: threading.Thread | None = None

    def note(self, position: int) -> None:
        """The chain has reached `position`; wakes the writer when a snapshot is due."""
        self.head = position
        if not self._due() or self._closing.is_set():
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="snapshots", daemon=True)
            self._thread.start()
        self._wake.set()

    def _due(self) -> bool:
        if self.interval is None:
            return False
        return self.head >= max(self.last_position + self.interval, self._retry_at)

    def _run(self) -> None:
        while not self._closing.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._closing.is_set():
                return
            try:
                # Replicas share the store: one that wrote lately spares the others the work.
                self.last_position = max([self.last_position, *self.store.positions()[:1]])
                if self._due():  # not when woken again while writing the one just written
                    self.write_now()
            except Exception:  # the next interval tries again; commands never wait for it
                logger.exception("writing a snapshot failed; trying again an interval later")
                self._retry_at = self.head + (self.interval or 0)

    def write_now(self) -> int | None:
        """Write a snapshot of the current state unless the store has one there already.
        Returns its position, or None when none was written."""
        with self._writing:
            started_s = time.perf_counter()
            with self.lock:
                locked_s = time.perf_counter()
                captured = self.capture()
                self.last_pause_s = time.perf_counter() - locked_s
            if captured is None:
                return None
            state, key = captured
            newest = max([self.last_position, *self.store.positions()[:1]])
            if state.position <= newest:
                self.last_position = newest
                return None
            snapshot = make_snapshot(state, key)
            self.store.record(snapshot)
            self.last_position = state.position
            logger.info(
                "snapshot at position %d written: %d bytes in %.1f s (writer paused %.1f ms)",
                state.position,
                len(snapshot.payload),
                time.perf_counter() - started_s,
                self.last_pause_s * 1_000,
            )
            return state.position

    def close(self, timeout_s: float = 0.0) -> None:
        """Stop the background thread; waits for a snapshot being written at most
        `timeout_s` (an unfinished one is simply not stored)."""
        self._closing.set()
        self._wake.set()
        if self._thread is not None and timeout_s > 0:
            self._thread.join(timeout_s)
