"""A service whose start-up replay outlasts the liveness window the chart used to allow,
probed the way the kubelet probes a pod (tests/support/kubelet.py), with every probe time
scaled by SCALE so that seconds here stand for what takes minutes in a cluster: at 1/8 the
old liveness probe gives up 5 s after the start instead of 40 s. The process's own boot (a
few seconds of imports) does not scale, so the window stays well above it; the history is
long enough that its replay takes longer again, which the test checks on the same store.

- The old chart's probes (one grpc probe on the overall health; liveness from 20 s, every
  10 s, three failures) kill it while it is still replaying, as they did in a cluster.
- The chart's probes (startup on /readyz within its budget, readiness on /readyz, liveness
  on /livez) let the same start-up finish: alive throughout, refusing registry calls with
  how far it has got, ready once caught up.
- Once it stops answering (SIGSTOP: hung), those same probes kill it.
- The relay answers at once and is ready once it has published the backlog it found.
- A chain that does not verify is never served: start-up fails, liveness says so."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
import yaml

from registry.client.grpc_client import CommandRejected, RegistryClient
from registry.service.server import RegistryServer, ServerConfig
from registry.write.application import CATCH_UP_PAGE_EVENTS, RegistryApplication
from tests.conftest import ROOT
from tests.support.helpers import IWAIZUMI
from tests.support.kubelet import (
    OLD_CHART_PROBES,
    Kubelet,
    Probe,
    ProbeSettings,
    chart_probes,
    chart_values,
    grpc_health_check,
    http_check,
)
from tests.support.processes import ManagedProcess, free_port
from tests.support.startup import Store, build_stores, serve_command, serve_environment

SCALE = 1 / 8
# The history: at least this many envelopes, and as many more as this machine generates in
# GENERATION_S. Generating takes five to seven times as long as replaying the same envelopes
# (the replay checks every hash link but one countersignature a run), so the replay takes 8
# to 12 s: about twice the 5 s the old probes wait, on a faster machine as on this one, and
# the test's length stays about the same on either.
ENVELOPES_MIN = 15_000
GENERATION_S = 60.0
RELAY_ENVELOPES = 5_000  # a copy taken on the way, for the relay alone
RELAY_BATCH_EVENTS = 25  # two hundred commits: long enough to be seen catching up
WAIT_SLICE_S = 0.05
KILL_TIMEOUT_S = 60.0
STARTING = re.compile(r"starting: replayed (?P<replayed>\d+) of (?P<total>\d+) envelopes")


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Store]:
    directory = tmp_path_factory.mktemp("startup")
    relay, service = build_stores(
        directory, [RELAY_ENVELOPES, ENVELOPES_MIN], grow_for_s=GENERATION_S
    )
    return {"relay": relay, "service": service}


def chart_settings() -> dict[str, ProbeSettings]:
    documents = [
        yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))
        for path in (
            "deploy/helm/credit-registry/values.yaml",
            "deploy/helm/values-production.yaml",
        )
    ]
    return {name: s.scaled(SCALE) for name, s in chart_probes(chart_values(*documents)).items()}


class Service:
    def __init__(self, store: Store, log_path: Path) -> None:
        self.envelopes = store.envelopes
        self.target = f"127.0.0.1:{free_port()}"
        self.metrics = f"http://127.0.0.1:{free_port()}"
        self.started_s = time.monotonic()
        self.process = ManagedProcess(
            "service",
            serve_command(store, self.target),
            serve_environment(int(self.metrics.rsplit(":", 1)[1])),
            log_path,
        )

    def chart_kubelet(self) -> Kubelet:
        settings = chart_settings()
        return Kubelet(
            self.process.pid,
            self.started_s,
            startup=Probe(http_check(self.metrics + "/readyz"), settings["startup"]),
            readiness=Probe(http_check(self.metrics + "/readyz"), settings["readiness"]),
            liveness=Probe(http_check(self.metrics + "/livez"), settings["liveness"]),
        )


@contextmanager
def running_service(store: Store, log_path: Path) -> Iterator[Service]:
    running = Service(store, log_path)
    try:
        yield running
    finally:
        if running.process.process.poll() is None:
            os.kill(running.process.pid, signal.SIGCONT)  # a stopped process ignores SIGTERM
        running.process.stop()


def wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s} s"
        time.sleep(WAIT_SLICE_S)


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def fetch_quietly(url: str) -> int:
    try:
        return fetch(url)[0]
    except (urllib.error.URLError, OSError):
        return 0


def killed_by_the_old_probes(service: Service) -> float:
    """Seconds from process start until the old chart's liveness probe killed it."""
    old = {name: s.scaled(SCALE) for name, s in OLD_CHART_PROBES.items()}
    overall = grpc_health_check(service.target, "")
    kubelet = Kubelet(
        service.process.pid,
        service.started_s,
        readiness=Probe(overall, old["readiness"]),
        liveness=Probe(overall, old["liveness"]),
    ).start()
    assert kubelet.done.wait(KILL_TIMEOUT_S), "the old probes never gave up"
    verdict = kubelet.stop()
    assert verdict.killed_by == "liveness" and verdict.ready_after_s is None, verdict
    assert verdict.killed_after_s is not None
    log = "".join(service.process.lines)
    assert "caught up at position" not in log and "serving embedded" not in log, log
    return verdict.killed_after_s


def assert_alive_not_ready_and_saying_how_far(service: Service) -> None:
    """Over HTTP, the gRPC health names, a registry call and the metrics."""
    status, detail = fetch(service.metrics + "/readyz")
    progress = STARTING.fullmatch(detail.strip())
    assert status == 503 and progress, (status, detail)
    assert int(progress["replayed"]) < int(progress["total"]) == service.envelopes, detail
    assert not grpc_health_check(service.target, "")(5)
    assert not grpc_health_check(service.target, "credit_registry.v1.CommandService")(5)
    assert grpc_health_check(service.target, "liveness")(5)
    with RegistryClient(service.target, timeout_s=5) as client:
        with pytest.raises(CommandRejected) as refused:
            client.balance(IWAIZUMI)
        assert refused.value.status == grpc.StatusCode.UNAVAILABLE
        assert STARTING.search(refused.value.message), refused.value.message
    _, metrics = fetch(service.metrics + "/metrics")
    assert f"credit_registry_startup_total_envelopes {service.envelopes}.0" in metrics
    service.process.wait_for_line(f"starting: replaying {service.envelopes} envelopes", 10)


def assert_serving(service: Service) -> None:
    service.process.wait_for_line(f"caught up at position {service.envelopes}", 10)
    assert grpc_health_check(service.target, "")(5)
    with RegistryClient(service.target, timeout_s=5) as client:
        assert client.balance(IWAIZUMI).party_id == IWAIZUMI
    _, metrics = fetch(service.metrics + "/metrics")
    assert f"credit_registry_startup_replayed_envelopes {service.envelopes}.0" in metrics


def test_a_start_up_the_old_probes_kill_finishes_under_the_chart_probes_and_a_hang_does_not(
    stores: dict[str, Store], tmp_path: Path
) -> None:
    store = stores["service"]
    with running_service(store, tmp_path / "old-probes.log") as service:
        killed_after_s = killed_by_the_old_probes(service)

    settings = chart_settings()
    with running_service(store, tmp_path / "chart-probes.log") as service:
        kubelet = service.chart_kubelet().start()
        wait_until(lambda: fetch_quietly(service.metrics + "/livez") == 200, 30)
        assert_alive_not_ready_and_saying_how_far(service)
        assert kubelet.ready.wait(settings["startup"].budget_s), kubelet.verdict
        verdict = kubelet.verdict
        assert verdict.killed_by is None and verdict.ready_after_s is not None, verdict
        # The same start-up, on the same store: longer than the old probes allowed.
        assert verdict.ready_after_s > killed_after_s, (verdict, killed_after_s)
        assert_serving(service)

        # Hung: the process stops answering anything. Liveness gives up on it.
        hung_s = time.monotonic()
        os.kill(service.process.pid, signal.SIGSTOP)
        assert kubelet.done.wait(KILL_TIMEOUT_S), "the hung service was never killed"
        verdict = kubelet.stop()
        liveness = settings["liveness"]
        assert verdict.killed_by == "liveness", verdict
        # At most a period until the first failing check, then each check timing out.
        allowed_s = (liveness.failure_threshold + 1) * (liveness.period_s + liveness.timeout_s)
        assert time.monotonic() - hung_s < allowed_s


def test_the_relay_answers_at_once_and_is_ready_once_it_has_published_the_backlog(
    stores: dict[str, Store], tmp_path: Path
) -> None:
    store = stores["relay"]
    metrics_port = free_port()
    relay = ManagedProcess(
        "relay",
        [
            sys.executable,
            "-m",
            "registry.cli",
            "--home",
            str(store.home),
            "relay",
            "--batch-events",
            str(RELAY_BATCH_EVENTS),
        ],
        serve_environment(metrics_port),
        tmp_path / "relay.log",
    )
    metrics = f"http://127.0.0.1:{metrics_port}"
    try:
        wait_until(lambda: fetch_quietly(metrics + "/livez") == 200, 30)
        # Answering, not ready: still opening the store, or publishing the backlog.
        status, detail = fetch(metrics + "/readyz")
        assert status == 503, (status, detail)
        relay.wait_for_line(f"envelopes to publish, from position 1 up to {store.envelopes}", 10)
        wait_until(lambda: fetch_quietly(metrics + "/readyz") == 200, 60)
        relay.wait_for_line(
            f"caught up: relay embedded: published to position {store.envelopes}", 10
        )
        _, detail = fetch(metrics + "/readyz")
        assert f"published to position {store.envelopes}" in detail, detail
        _, metrics_text = fetch(metrics + "/metrics")
        assert 'credit_registry_relay_lag_positions{relay="embedded"} 0.0' in metrics_text
    finally:
        relay.stop()


def test_a_deferred_catch_up_reports_its_progress_page_by_page(stores: dict[str, Store]) -> None:
    store = stores["relay"]
    app = RegistryApplication(store.database_url, store.registry_key(), defer_catch_up=True)
    assert (app.ledger.position, app.stored_head_position()) == (0, store.envelopes)
    seen: list[int] = []
    assert app.catch_up(seen.append) == store.envelopes
    pages = list(range(CATCH_UP_PAGE_EVENTS, store.envelopes + 1, CATCH_UP_PAGE_EVENTS))
    assert seen == [*pages, store.envelopes]  # every page, then once at the end
    assert app.catch_up(seen.append) == 0 and seen[-1] == store.envelopes
    app.close()


def test_a_chain_that_does_not_verify_is_never_served(tmp_path: Path) -> None:
    (store,) = build_stores(tmp_path, [40])
    with sqlite3.connect(store.home / "registry.sqlite") as database:
        (state,) = database.execute(
            "SELECT state FROM registry_events WHERE originator_version = 20"
        ).fetchone()
        tampered = state[:-10] + bytes([state[-10] ^ 1]) + state[-9:]  # inside the signature
        database.execute(
            "UPDATE registry_events SET state = ? WHERE originator_version = 20", (tampered,)
        )
    database.close()
    server = RegistryServer(
        ServerConfig(
            listen="127.0.0.1:0",
            database_url=store.database_url,
            projection_url=f"sqlite:///{tmp_path / 'projections.sqlite'}",
            registry_key=store.registry_key(),
        )
    )
    server.listen()
    try:
        with pytest.raises(RuntimeError, match="start-up failed"):
            server.wait_started(30)
        alive, reason = server.process_health.alive()
        assert not alive and reason.startswith("start-up failed"), reason
        assert "position 20: registry countersignature does not verify" in reason, reason
        target = f"127.0.0.1:{server.port}"
        assert not grpc_health_check(target, "liveness")(5)
        assert not grpc_health_check(target, "")(5)
        with RegistryClient(target, timeout_s=5) as client:
            with pytest.raises(CommandRejected) as refused:
                client.balance(IWAIZUMI)
            assert refused.value.status == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(grace_s=1)
