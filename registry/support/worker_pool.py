"""Process pools for signature checks (the audit, projection workers). Spawned, not forked:
the caller may hold threads (gRPC, Kafka clients). Each worker watches its parent and exits
when the parent is gone: a SIGKILLed worker process must not leave its pool behind, blocked
for ever on a queue whose other end it holds itself."""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor

PARENT_CHECK_INTERVAL_S = 1.0


def exit_with_parent(parent_pid: int) -> None:
    """In a child process: exit as soon as `parent_pid` is no longer the parent."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            threading.Event().wait(PARENT_CHECK_INTERVAL_S)
        os._exit(0)  # orphaned: nobody will ever read a result again

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def spawn_pool(workers: int) -> ProcessPoolExecutor:
    if workers <= 0:
        raise ValueError(f"{workers} workers: at least 1")
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    )
