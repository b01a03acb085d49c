"""The wall clock in microseconds since the epoch, the unit of every recorded time."""

from __future__ import annotations

import time


def now_us() -> int:
    return time.time_ns() // 1_000
