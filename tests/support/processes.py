"""Real processes for the fault suite and the benchmark: the gRPC service, the relay and the
projection workers run as `python -m registry.cli` subprocesses, as an operator starts them. Each one's
output is captured line by line (and kept in a log file), so a drill can wait for a given
moment, such as "pausing before commit", and SIGKILL the process right there."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from registry.envelope.keys import SigningKey
from tests.conftest import ROOT

LINE_WAIT_SLICE_S = 0.5
STOP_TIMEOUT_S = 30.0
SERVICE_START_TIMEOUT_S = 90.0


class ManagedProcess:
    """A subprocess whose merged stdout and stderr are read by a thread into a list of
    lines: the pipe never fills up, and tests can wait for a line with a deadline."""

    def __init__(
        self, name: str, command: list[str], environment: dict[str, str], log_path: Path
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment,
            cwd=ROOT,
        )
        self.killed = False  # killed on purpose by a drill, as opposed to dying by itself
        self.lines: list[str] = []
        self.condition = threading.Condition()
        self.reader = threading.Thread(target=self._read, name=f"output-{name}", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"===== {self.name} pid {self.process.pid} =====\n")
            for line in self.process.stdout:
                log.write(line)
                log.flush()
                with self.condition:
                    self.lines.append(line)
                    self.condition.notify_all()

    @property
    def pid(self) -> int:
        return self.process.pid

    def mark(self) -> int:
        """The number of lines seen so far: wait_for_line(..., after=mark) ignores them."""
        with self.condition:
            return len(self.lines)

    def wait_for_line(self, fragment: str, timeout_s: float, after: int = 0) -> str:
        deadline = time.monotonic() + timeout_s
        with self.condition:
            while True:
                for line in self.lines[after:]:
                    if fragment in line:
                        return line
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"{self.name} exited with {self.process.returncode} before "
                        f"printing {fragment!r}; see {self.log_path}"
                    )
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    raise AssertionError(
                        f"{self.name} did not print {fragment!r} within {timeout_s} s; "
                        f"see {self.log_path}"
                    )
                self.condition.wait(min(remaining_s, LINE_WAIT_SLICE_S))

    def kill(self) -> None:
        """SIGKILL: no handler runs, no transaction is finished, no buffer is flushed."""
        self.killed = True
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_S)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self.reader.join(timeout=timeout_s)


def free_port() -> int:
    """A port for the service that stays the same across restarts, so the clients'
    channels reconnect to the restarted process by themselves."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class StackConfig:
    directory: Path
    database_url: str  # the event store
    projection_url: str  # the read models (the same PostgreSQL database, as the chart does)
    kafka_bootstrap: str
    topic: str
    key_file: Path
    key_passphrase: str
    port: int


class RegistryStack:
    """The chart's shape on one machine: one service, one relay, two projection workers."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.log_path = config.directory / "processes.log"
        self.service: ManagedProcess | None = None
        self.relay: ManagedProcess | None = None
        self.workers: list[ManagedProcess] = []
        self.started: list[ManagedProcess] = []  # everything ever started, to stop at the end

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.config.port}"

    @cached_property
    def registry_public_key_hex(self) -> str:
        key = SigningKey.load(self.config.key_file, self.config.key_passphrase.encode())
        return key.public_key.hex()

    def environment(self) -> dict[str, str]:
        return dict(
            os.environ,
            CREDIT_REGISTRY_REGISTRY_PASSPHRASE=self.config.key_passphrase,
            # As the chart configures them: workers verify every record's countersignature.
            CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY=self.registry_public_key_hex,
            CREDIT_REGISTRY_KAFKA=self.config.kafka_bootstrap,
            CREDIT_REGISTRY_TOPIC=self.config.topic,
            CREDIT_REGISTRY_DATABASE_URL=self.config.database_url,
            # The group is per topic: workers of other tests on the shared broker stay apart.
            CREDIT_REGISTRY_PROJECTION_GROUP="group-" + self.config.topic,
        )

    def _start(self, name: str, *arguments: str) -> ManagedProcess:
        command = [
            sys.executable,
            "-m",
            "registry.cli",
            "--home",
            str(self.config.directory),
            *arguments,
        ]
        process = ManagedProcess(name, command, self.environment(), self.log_path)
        self.started.append(process)
        return process

    def start_service(self) -> ManagedProcess:
        self.service = self._start(
            "service",
            "serve",
            "--listen",
            self.target,
            "--registry-key",
            str(self.config.key_file),
            "--projection-url",
            self.config.projection_url,
        )
        self.service.wait_for_line("serving kafka on port", SERVICE_START_TIMEOUT_S)
        return self.service

    def start_relay(self, *extra: str) -> ManagedProcess:
        self.relay = self._start(
            "relay", "relay", "--database-url", self.config.database_url, *extra
        )
        return self.relay

    def start_worker(self, *extra: str) -> ManagedProcess:
        worker = self._start(
            f"worker-{len(self.workers) + 1}",
            "projections",
            "run",
            "--projection-url",
            self.config.projection_url,
            "--workers",
            "1",  # one verifying process each: two workers share this machine's two cores
            *extra,
        )
        self.workers.append(worker)
        return worker

    def start_all(self, worker_count: int = 2) -> None:
        self.start_relay()
        for _ in range(worker_count):
            self.start_worker()
        self.start_service()

    def assert_survivors_running(self) -> None:
        """Every process the drill did not kill on purpose must have lived through the fault."""
        for process in self.started:
            assert process.killed or process.process.poll() is None, (
                f"{process.name} exited with {process.process.returncode}; see {self.log_path}"
            )

    def stop_all(self) -> None:
        for process in self.started:
            if process.process.poll() is None:
                process.process.terminate()
        for process in self.started:
            process.stop()
