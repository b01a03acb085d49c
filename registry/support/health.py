"""What a long-running process tells its probes: alive from the first second, ready once it
has caught up, and how far it has got in between. observability.serve_metrics answers
/livez and /readyz from it beside /metrics; the service answers the gRPC health protocol
from it too (registry/service/startup.py).

Alive means the process answers and, while a loop is watched, that the loop has made
progress within `stall_timeout_s`. A start-up that replays slowly but steadily is alive; one
stuck for good (a database that stopped answering mid-read, a relay blocked on a send that
never returns) is not, and is restarted. Ready means caught up at least once since the
process started: it stays so while the process runs, so a burst of writes that puts the
relay a few batches behind does not take the pod out of its rollout."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Longer than any single step of a watched loop: a Kafka flush gives up after 90 s, a
# projection batch or a catch-up page takes seconds.
STALL_TIMEOUT_S = 120.0


class ProcessHealth:
    def __init__(
        self,
        stall_timeout_s: float = STALL_TIMEOUT_S,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stall_timeout_s = stall_timeout_s
        self._clock_s = clock_s
        self._lock = threading.Lock()
        self._last_progress_s = clock_s()
        self._watched = True
        self._caught_up = False
        self._stopping = False
        self._failure: str | None = None
        self._detail = "starting"

    @property
    def caught_up(self) -> bool:
        """Caught up at least once since the process started (stays true while stopping)."""
        return self._caught_up

    @property
    def detail(self) -> str:
        """How far the process has got, in words, e.g. "starting: replayed 12 of 40 envelopes"."""
        return self._detail

    def progress(self, detail: str | None = None) -> None:
        """The watched loop moved on; `detail` replaces the description when given."""
        with self._lock:
            self._last_progress_s = self._clock_s()
            if detail is not None:
                self._detail = detail

    def mark_caught_up(self, detail: str = "caught up") -> None:
        with self._lock:
            self._last_progress_s = self._clock_s()
            self._caught_up = True
            self._detail = detail

    def unwatch(self) -> None:
        """No loop to watch any more (the service once it serves): alive while it answers."""
        with self._lock:
            self._watched = False

    def mark_stopping(self) -> None:
        with self._lock:
            self._stopping = True

    def mark_failed(self, reason: str) -> None:
        """Start-up gave up (the process is about to exit): neither alive nor ready."""
        with self._lock:
            self._failure = reason
            self._detail = reason

    def alive(self) -> tuple[bool, str]:
        with self._lock:
            if self._failure is not None:
                return False, self._failure
            quiet_s = self._clock_s() - self._last_progress_s
            if self._watched and quiet_s > self.stall_timeout_s:
                return False, f"no progress for {quiet_s:.0f} s ({self._detail})"
            return True, self._detail

    def ready(self) -> tuple[bool, str]:
        alive, reason = self.alive()
        with self._lock:
            if not alive:
                return False, reason
            if self._stopping:
                return False, "stopping"
            return self._caught_up, self._detail


# The process's own health, for processes that run one loop: the relay and the projection
# workers report here and serve_metrics answers from it by default. The service keeps one
# per RegistryServer, so that several servers in one test process stay apart.
PROCESS_HEALTH = ProcessHealth()
