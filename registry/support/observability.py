"""Prometheus metrics and structured logs for the long-running processes: the service,
the relay, the projection workers, the public web view and the witnesses. Metrics are
served on their own port when one is configured, with the probes' /livez and /readyz beside
them (registry/support/health.py); logs are one JSON object a line with
CREDIT_REGISTRY_LOG_FORMAT=json. The audit, a short-lived job, has no metrics: its verdict
is its exit status and its JSON report. Nothing here ever sees a private key or a
passphrase: callers log ids and codes, never secrets."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import grpc
from prometheus_client import Counter, Gauge, Histogram, make_wsgi_app

from registry.support.health import PROCESS_HEALTH, ProcessHealth

REQUESTS = Counter(
    "credit_registry_requests_total", "gRPC calls by method and status code", ["method", "code"]
)
REQUEST_SECONDS = Histogram("credit_registry_request_seconds", "gRPC call duration", ["method"])
COMMANDS = Counter(
    "credit_registry_commands_total",
    "Commands by type of result (check code, or ACCEPTED)",
    ["result"],
)
CLOCK_BEHIND_SECONDS = Gauge(
    "credit_registry_clock_behind_seconds",
    "How far this replica's clock reads behind the chain's latest recorded time (0: not behind);"
    " past 60 s it decides nothing and answers UNAVAILABLE",
)
HEAD_POSITION = Gauge("credit_registry_head_position", "Highest global position in the event store")
RELAY_LAG = Gauge(
    "credit_registry_relay_lag_positions", "Envelopes stored but not yet published", ["relay"]
)
PROJECTION_LAG = Gauge(
    "credit_registry_projection_lag_positions", "Positions behind the head", ["source"]
)
WEB_REQUESTS = Counter(
    "credit_registry_web_requests_total",
    "Public web view requests by route and status",
    ["route", "status"],
)
WEB_REQUEST_SECONDS = Histogram(
    "credit_registry_web_request_seconds", "Public web view request duration", ["route"]
)
PROJECTED = Counter(
    "credit_registry_projected_envelopes_total", "Envelopes applied to the read models", ["source"]
)
STARTUP_REPLAYED = Gauge(
    "credit_registry_startup_replayed_envelopes",
    "Service start-up: position the catch-up replay has reached",
)
STARTUP_TOTAL = Gauge(
    "credit_registry_startup_total_envelopes",
    "Service start-up: envelopes in the store when the replay began (or reached since)",
)
WITNESS_VERIFIED_POSITION = Gauge(
    "credit_registry_witness_verified_position",
    "Witness: the last position it verified itself (envelope and rules)",
    ["witness"],
)
WITNESS_COSIGNED_SIZE = Gauge(
    "credit_registry_witness_cosigned_tree_size",
    "Witness: tree size of the checkpoint it cosigned last",
    ["witness"],
)
WITNESS_SPLIT_HISTORIES = Gauge(
    "credit_registry_witness_split_histories",
    "Witness: split histories it holds evidence of (anything above 0 needs people)",
    ["witness"],
)
PROBE_PATHS = ("/livez", "/readyz")


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a probe left hanging never holds the process at exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would drown the log."""


def _application(health: ProcessHealth) -> Callable[..., Iterable[bytes]]:
    metrics = make_wsgi_app()

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path not in PROBE_PATHS:
            return metrics(environ, start_response)
        healthy, detail = health.alive() if path == "/livez" else health.ready()
        status = "200 OK" if healthy else "503 Service Unavailable"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [(detail + "\n").encode("utf-8")]

    return application


def serve_metrics(port: int | None, health: ProcessHealth = PROCESS_HEALTH) -> int | None:
    """Expose /metrics, and `health` as /livez and /readyz, on `port` (None: off; 0: any
    free port). Returns the port in use."""
    if port is None:
        return None
    server = make_server(
        "0.0.0.0", port, _application(health), _ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return int(server.server_port)


def metrics_port_from_environment() -> int | None:
    value = os.environ.get("CREDIT_REGISTRY_METRICS_PORT")
    return int(value) if value else None


class MetricsInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Counts and times every unary call by method and final status code."""

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = details.method.rsplit("/", 1)[-1]
        inner = handler.unary_unary

        def timed(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            code = "OK"
            try:
                return inner(request, context)
            except Exception:
                found = context.code()
                code = found.name if isinstance(found, grpc.StatusCode) else "UNKNOWN"
                raise
            finally:
                REQUESTS.labels(method, code).inc()
                REQUEST_SECONDS.labels(method).observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            timed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: int = logging.WARNING) -> None:
    handler = logging.StreamHandler()
    if os.environ.get("CREDIT_REGISTRY_LOG_FORMAT", "text") == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
