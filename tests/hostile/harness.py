"""Shared by the hostile-input tests: outcome checks against a real server, and the counts
each fuzzed RPC reports (printed, and appended as JSON lines; docs/reliability-security.md
quotes them)."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, settings

from registry.domain.checks import CheckCode
from registry.rpc.status import check_code_of, status_code_for
from registry.service.server import RegistryServer
from registry.write.persistence import CHAIN_ID
from tests.conftest import ROOT

EXAMPLES_PER_RPC = int(os.environ.get("CREDIT_REGISTRY_HOSTILE_EXAMPLES", "2000"))
# One server serves a whole module, so the function-scoped health check does not apply;
# calls vary in cost (a commit is slower than a refusal), so no per-example deadline.
FUZZ = settings(
    max_examples=EXAMPLES_PER_RPC,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
REPORT_PATH = Path(
    os.environ.get("CREDIT_REGISTRY_HOSTILE_REPORT", str(ROOT / "build" / "hostile-report.jsonl"))
)
SERVER_FAULTS = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL})
CALL_TIMEOUT_S = 30.0


def store_head(server: RegistryServer) -> int:
    """The last position in the event store itself (not the in-memory ledger)."""
    last = server.app.recorder.select_events(CHAIN_ID, desc=True, limit=1)
    return int(last[0].originator_version) if last else 0


def health_status(target: str, credentials: grpc.ChannelCredentials | None = None) -> int:
    channel = (
        grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
    )
    with channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=10
        )
    return int(response.status)


def serving(server: RegistryServer) -> bool:
    return health_status(f"127.0.0.1:{server.port}") == health_pb2.HealthCheckResponse.SERVING


@dataclass
class Tally:
    """Counts of one fuzzed RPC: every case is either accepted or a clean rejection."""

    rpc: str
    suite: str = "fuzz"
    cases: int = 0
    rejected: int = 0
    accepted: int = 0
    internal_errors: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    started_s: float = field(default_factory=time.monotonic)

    def accept(self) -> None:
        self.accepted += 1

    def refuse(self, error: grpc.RpcError, require_code: bool = True) -> CheckCode | None:
        """Assert a clean refusal: never UNKNOWN/INTERNAL, and (by default) an ErrorInfo
        with a check code whose gRPC status is the documented one. Returns the code."""
        status = error.code()
        if status in SERVER_FAULTS:
            self.internal_errors += 1
            raise AssertionError(f"{self.rpc}: server fault {status.name}: {error.details()}")
        code, _ = check_code_of(error)
        if require_code:
            assert code is not None, f"{self.rpc}: {status.name} without a check code"
            assert status is status_code_for(code), (self.rpc, status, code)
        self.rejected += 1
        self.codes[code.name if code else status.name] += 1
        return code

    def refuse_in_result(self, check_code: str) -> None:
        """A batch result that was refused: its code must be a published check code."""
        assert check_code in CheckCode.__members__, check_code
        self.rejected += 1
        self.codes[check_code] += 1

    def report(self) -> str:
        seconds = time.monotonic() - self.started_s
        line = (
            f"rpc={self.rpc} cases={self.cases} rejected={self.rejected} "
            f"accepted={self.accepted} internal_errors={self.internal_errors} "
            f"seconds={seconds:.1f}"
        )
        print(line)
        REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "suite": self.suite,
            "rpc": self.rpc,
            "cases": self.cases,
            "rejected": self.rejected,
            "accepted": self.accepted,
            "internal_errors": self.internal_errors,
            "codes": dict(sorted(self.codes.items())),
            "seconds": round(seconds, 1),
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with REPORT_PATH.open("a", encoding="utf-8") as report:
            report.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return line
