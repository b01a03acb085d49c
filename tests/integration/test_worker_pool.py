"""A process that holds a signature pool and is SIGKILLed (a projection worker, an audit)
must not leave its pool processes behind: they watch their parent and exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT

EXIT_WAIT_S = 15.0
HOLDER = """
import os, sys, time
from registry.support.worker_pool import spawn_pool
pool = spawn_pool(2)
pids = {pool.submit(os.getpid).result() for _ in range(20)}
print(" ".join(str(pid) for pid in sorted(pids)), flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return False
    return "\nState:\tZ" not in status.read_text()  # a zombie has exited


def test_pool_processes_exit_when_their_parent_is_killed() -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        children = [int(pid) for pid in holder.stdout.readline().split()]
        assert children and all(alive(pid) for pid in children)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        deadline = time.monotonic() + EXIT_WAIT_S
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(alive(pid) for pid in children), "pool processes outlived their parent"
    finally:
        if holder.poll() is None:
            holder.kill()
