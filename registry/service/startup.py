"""The service while it starts: it listens at once and answers health, but serves registry
calls only once the application has replayed and re-verified the chain.

gRPC health names, for probes and load balancers alike:
- "liveness": SERVING while the process answers and its start-up makes progress.
- "readiness", "" (the whole server) and every registry service's full name: NOT_SERVING
  until caught up, then SERVING until shutdown.
A registry call that arrives before then is refused with UNAVAILABLE and how far the
replay has got, which clients treat as "try again shortly"; nothing reaches a servicer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2

from registry.support.health import ProcessHealth
from registry.support.observability import STARTUP_REPLAYED, STARTUP_TOTAL

logger = logging.getLogger(__name__)
LIVENESS_SERVICE = "liveness"
READINESS_SERVICE = "readiness"
PROGRESS_LOG_INTERVAL_S = 5.0
# Calls that answer during start-up: the probes' and the tools' that find the others.
ALWAYS_ANSWERED_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class RegistryHealth(health.HealthServicer):  # type: ignore[misc]
    """The standard health servicer, NOT_SERVING from the start (the library's default for
    "" is SERVING), with "liveness" read from the process's health on every check."""

    def __init__(self, state: ProcessHealth, readiness_names: tuple[str, ...]) -> None:
        super().__init__()
        self.state = state
        self.readiness_names = ("", READINESS_SERVICE, *readiness_names)
        for name in self.readiness_names:
            self.set(name, NOT_SERVING)
        self.set(LIVENESS_SERVICE, SERVING)

    def Check(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.service == LIVENESS_SERVICE:
            alive, _detail = self.state.alive()
            return health_pb2.HealthCheckResponse(status=SERVING if alive else NOT_SERVING)
        return super().Check(request, context)

    def serve(self) -> None:
        for name in self.readiness_names:
            self.set(name, SERVING)


class StartupGate(grpc.ServerInterceptor):  # type: ignore[misc]
    """Refuses registry calls with UNAVAILABLE until the process has caught up. Place it
    after the metrics interceptor, so the refusals are counted."""

    def __init__(self, state: ProcessHealth) -> None:
        self.state = state

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if (
            handler is None
            or self.state.caught_up
            or details.method.startswith(ALWAYS_ANSWERED_PREFIXES)
        ):
            return handler

        def refuse(_request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(grpc.StatusCode.UNAVAILABLE, self.state.detail)

        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                refuse,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.unary_unary_rpc_method_handler(  # the API has no client-streaming methods
            refuse,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class StartupProgress:
    """The catch-up replay's progress hook: a gauge, the health detail, a log line now and
    then. `total` is the store's head when the replay began; other writers may add more."""

    def __init__(self, state: ProcessHealth, total: int) -> None:
        self.state = state
        self.total = total
        self.started_s = time.monotonic()
        self.next_log_s = self.started_s + PROGRESS_LOG_INTERVAL_S
        STARTUP_TOTAL.set(total)
        STARTUP_REPLAYED.set(0)
        self.state.progress(self.describe(0))
        logger.info(
            "starting: replaying %d envelopes before serving (only those after the newest "
            "snapshot, if one verifies)",
            total,
        )

    def describe(self, position: int) -> str:
        return f"starting: replayed {position} of {self.total} envelopes"

    def __call__(self, position: int) -> None:
        if position > self.total:
            self.total = position
            STARTUP_TOTAL.set(position)
        STARTUP_REPLAYED.set(position)
        self.state.progress(self.describe(position))
        now_s = time.monotonic()
        if now_s >= self.next_log_s:
            self.next_log_s = now_s + PROGRESS_LOG_INTERVAL_S
            rate = position / max(now_s - self.started_s, 1e-9)
            logger.info("%s (%.0f envelopes/s)", self.describe(position), rate)

    def finish(self, position: int) -> str:
        elapsed_s = time.monotonic() - self.started_s
        logger.info("caught up at position %d: replayed in %.1f s", position, elapsed_s)
        return f"serving at position {position}"
