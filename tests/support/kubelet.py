"""A small probe loop that treats one process the way the kubelet treats a container.

The startup probe runs first, every period, until it succeeds once; liveness and readiness
wait for it. A probe fails when its check says so or does not answer within its timeout.
`failureThreshold` consecutive startup or liveness failures: the process is SIGKILLed, as
the kubelet kills a container. Readiness only marks the process ready or not. Every probe
starts `initialDelaySeconds` after the process did. Times may be scaled down together, so
that a test sees in seconds what a cluster does in minutes.

The probe settings of the chart are read from its values here too (`chart_probes`), so the
test that runs this loop and the test that renders the chart agree on one set of numbers."""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

Check = Callable[[float], bool]  # the timeout in seconds -> healthy?
TIMEOUT_FLOOR_S = 0.5  # scaled timeouts below this would measure the machine, not the process
POLL_SLICE_S = 0.05


@dataclass(frozen=True)
class ProbeSettings:
    period_s: float
    failure_threshold: int
    timeout_s: float = 1.0  # the kubelet's default
    initial_delay_s: float = 0.0

    def scaled(self, factor: float) -> ProbeSettings:
        return replace(
            self,
            period_s=self.period_s * factor,
            timeout_s=max(self.timeout_s * factor, TIMEOUT_FLOOR_S),
            initial_delay_s=self.initial_delay_s * factor,
        )

    @property
    def budget_s(self) -> float:
        """How long this probe tolerates failing before it gives up on the process."""
        return self.initial_delay_s + self.failure_threshold * self.period_s


@dataclass(frozen=True)
class Probe:
    check: Check
    settings: ProbeSettings


def http_check(url: str) -> Check:
    """As an httpGet probe: any status from 200 to 399 is a success."""

    def check(timeout_s: float) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                return 200 <= int(response.status) < 400
        except (urllib.error.URLError, OSError, TimeoutError):
            return False  # 503 (HTTPError), refused, reset or too slow

    return check


def grpc_health_check(target: str, service: str = "") -> Check:
    """As a grpc probe: the standard health service must answer SERVING for `service`."""

    def check(timeout_s: float) -> bool:
        with grpc.insecure_channel(target) as channel:
            try:
                response = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
                )
            except grpc.RpcError:
                return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    return check


@dataclass
class Verdict:
    ready_after_s: float | None = None  # first readiness success, from the process's start
    killed_after_s: float | None = None
    killed_by: str | None = None  # "startup" or "liveness"
    checks: int = 0


class Kubelet:
    """Runs the probes in a thread until stopped, the process has exited, or it killed it."""

    def __init__(
        self,
        pid: int,
        started_s: float,
        startup: Probe | None = None,
        readiness: Probe | None = None,
        liveness: Probe | None = None,
    ) -> None:
        self.pid = pid
        self.started_s = started_s  # time.monotonic() when the process was started
        self.probes = {
            name: probe
            for name, probe in (
                ("startup", startup),
                ("readiness", readiness),
                ("liveness", liveness),
            )
            if probe is not None
        }
        self.verdict = Verdict()
        self.ready = threading.Event()
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kubelet", daemon=True)

    def start(self) -> Kubelet:
        self._thread.start()
        return self

    def stop(self) -> Verdict:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.verdict

    def _elapsed_s(self) -> float:
        return time.monotonic() - self.started_s

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self.done.set()

    def _loop(self) -> None:
        due = {name: p.settings.initial_delay_s for name, p in self.probes.items()}
        failures = dict.fromkeys(self.probes, 0)
        started_up = "startup" not in self.probes
        while not self._stop.is_set() and _running(self.pid):
            active = [n for n in self.probes if (n == "startup") != started_up]
            name = min(active, key=lambda n: due[n])
            if self._elapsed_s() < due[name]:
                self._stop.wait(min(due[name] - self._elapsed_s(), POLL_SLICE_S))
                continue
            probe = self.probes[name]
            healthy = probe.check(probe.settings.timeout_s)
            self.verdict.checks += 1
            due[name] = self._elapsed_s() + probe.settings.period_s
            failures[name] = 0 if healthy else failures[name] + 1
            if name == "startup" and healthy:
                started_up = True
                for other in ("readiness", "liveness"):
                    due[other] = max(due.get(other, 0.0), self._elapsed_s())
            elif name == "readiness" and healthy and self.verdict.ready_after_s is None:
                self.verdict.ready_after_s = self._elapsed_s()
                self.ready.set()
            elif name != "readiness" and failures[name] >= probe.settings.failure_threshold:
                self._kill(name)
                return

    def _kill(self, probe_name: str) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.verdict.killed_after_s = self._elapsed_s()
        self.verdict.killed_by = probe_name


def _running(pid: int) -> bool:
    """True until the process has exited (a zombie not yet reaped counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# -- the chart's probes, from its values --------------------------------------------------


def _merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def chart_values(*documents: Mapping[str, Any]) -> dict[str, Any]:
    """values.yaml with override files applied in order, as `helm -f` does."""
    values: dict[str, Any] = {}
    for document in documents:
        values = _merged(values, document)
    return values


def chart_probes(values: Mapping[str, Any]) -> dict[str, ProbeSettings]:
    """The three probes every long-running pod gets, as the chart's templates render them."""
    startup, probes = values["startup"], values["probes"]
    period_s = int(startup["periodSeconds"])
    budget_s = int(startup["budgetSeconds"])
    timeout_s = float(probes["timeoutSeconds"])
    return {
        "startup": ProbeSettings(period_s, -(-budget_s // period_s), timeout_s),  # ceiling
        "readiness": ProbeSettings(
            probes["readiness"]["periodSeconds"],
            probes["readiness"]["failureThreshold"],
            timeout_s,
        ),
        "liveness": ProbeSettings(
            probes["liveness"]["periodSeconds"],
            probes["liveness"]["failureThreshold"],
            timeout_s,
        ),
    }


# The chart before start-up probes: one grpc probe on the overall health ("") for both
# readiness and liveness, which the old server only answered once it had replayed the chain.
OLD_CHART_PROBES = {
    "readiness": ProbeSettings(period_s=5, failure_threshold=3),
    "liveness": ProbeSettings(period_s=10, failure_threshold=3, initial_delay_s=20),
}
