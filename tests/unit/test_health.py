"""What the probes are told: alive unless a watched loop stalls or start-up failed, ready once
caught up and until stopping; over HTTP beside /metrics; and when a projection worker counts
as caught up."""

from __future__ import annotations

import urllib.error
import urllib.request
from types import SimpleNamespace

from projections.runner import READY_LAG_RECORDS_MAX, _report_readiness
from registry.support.health import ProcessHealth
from registry.support.observability import serve_metrics

STALL_TIMEOUT_S = 60.0


class Clock:
    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        return self.now_s


def test_a_watched_loop_that_stops_making_progress_is_not_alive() -> None:
    clock = Clock()
    health = ProcessHealth(STALL_TIMEOUT_S, clock)
    assert health.alive() == (True, "starting")
    assert health.ready() == (False, "starting")
    clock.now_s += STALL_TIMEOUT_S - 1
    health.progress("starting: replayed 10 of 20 envelopes")
    clock.now_s += STALL_TIMEOUT_S  # exactly the limit: still alive
    assert health.alive() == (True, "starting: replayed 10 of 20 envelopes")
    clock.now_s += 1
    alive, reason = health.alive()
    assert not alive and reason == "no progress for 61 s (starting: replayed 10 of 20 envelopes)"
    assert health.ready()[0] is False
    health.progress()  # moving again: alive again, the description kept
    assert health.alive() == (True, "starting: replayed 10 of 20 envelopes")


def test_ready_once_caught_up_until_stopping_and_unwatched_it_stays_alive() -> None:
    clock = Clock()
    health = ProcessHealth(STALL_TIMEOUT_S, clock)
    health.mark_caught_up("serving at position 20")
    assert health.caught_up and health.ready() == (True, "serving at position 20")
    health.unwatch()
    clock.now_s += 10 * STALL_TIMEOUT_S  # nothing to watch: answering is alive
    assert health.alive() == (True, "serving at position 20")
    health.mark_stopping()
    assert health.ready() == (False, "stopping") and health.alive()[0]
    assert health.caught_up  # the start-up gate stays open while calls drain


def test_a_failed_start_up_is_neither_alive_nor_ready() -> None:
    health = ProcessHealth(STALL_TIMEOUT_S, Clock())
    health.mark_failed("start-up failed: ValueError: position 7 does not verify")
    assert health.alive() == (False, "start-up failed: ValueError: position 7 does not verify")
    assert health.ready()[0] is False


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_livez_and_readyz_are_served_beside_the_metrics() -> None:
    clock = Clock()
    health = ProcessHealth(STALL_TIMEOUT_S, clock)
    port = serve_metrics(0, health)
    base = f"http://127.0.0.1:{port}"
    health.progress("starting: replayed 3 of 9 envelopes")
    assert _get(base + "/livez") == (200, "starting: replayed 3 of 9 envelopes\n")
    assert _get(base + "/readyz") == (503, "starting: replayed 3 of 9 envelopes\n")
    clock.now_s += STALL_TIMEOUT_S + 5
    assert _get(base + "/livez")[0] == 503
    health.mark_caught_up("serving at position 9")
    assert _get(base + "/readyz") == (200, "serving at position 9\n")
    status, text = _get(base + "/metrics")
    assert status == 200 and "# TYPE credit_registry_startup_replayed_envelopes gauge" in text


def test_a_projection_worker_is_ready_once_in_its_group_and_close_to_the_ends() -> None:
    health = ProcessHealth(STALL_TIMEOUT_S, Clock())
    group = SimpleNamespace(joined=False)
    _report_readiness(health, group, None)  # type: ignore[arg-type]
    assert health.ready() == (False, "joining the consumer group")
    group.joined = True
    _report_readiness(health, group, READY_LAG_RECORDS_MAX + 1)  # type: ignore[arg-type]
    assert health.ready() == (False, f"catching up: lag {READY_LAG_RECORDS_MAX + 1} records")
    _report_readiness(health, group, READY_LAG_RECORDS_MAX)  # type: ignore[arg-type]
    assert health.ready() == (True, f"lag {READY_LAG_RECORDS_MAX} records")
    _report_readiness(health, group, 10 * READY_LAG_RECORDS_MAX)  # type: ignore[arg-type]
    assert health.ready() == (True, f"lag {10 * READY_LAG_RECORDS_MAX} records")  # stays ready

    idle = ProcessHealth(STALL_TIMEOUT_S, Clock())  # more members than partitions
    _report_readiness(idle, SimpleNamespace(joined=True), None)  # type: ignore[arg-type]
    assert idle.ready() == (True, "no partitions assigned")
