"""Assembling and running the gRPC server.

Embedded default: the SQLite store, the embedded log and the projections all live in this
process; a pipeline thread relays and projects right after each commit. With Kafka, this
process only serves: the relay and projection workers run as their own processes.

Start-up answers health before anything else: the server listens at once, NOT_SERVING, and
replays the chain in the background; only then does it serve (registry/service/startup.py).
A long replay is therefore visible to probes as "alive, not ready" instead of a silent
port, and calls that come early are refused with how far the replay has got."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import sqlalchemy
from grpc_health.v1 import health, health_pb2_grpc

from projections.runner import catch_up_embedded
from projections.store import ProjectionStore
from registry.api.credit_registry.v1 import registry_pb2 as pb
from registry.api.credit_registry.v1 import registry_pb2_grpc as pb_grpc
from registry.envelope.keys import SigningKey
from registry.log.embedded import EmbeddedLog
from registry.relay.positions import RelayPositions
from registry.relay.publishing import Relay
from registry.service.reflection import enable_server_reflection
from registry.service.servicers import CommandServicer, ExchangeServicer, QueryServicer
from registry.service.startup import (
    LIVENESS_SERVICE,
    READINESS_SERVICE,
    RegistryHealth,
    StartupGate,
    StartupProgress,
)
from registry.service.wire import MalformedRequestInterceptor
from registry.support.health import ProcessHealth
from registry.support.observability import HEAD_POSITION, MetricsInterceptor, serve_metrics
from registry.write.application import RegistryApplication
from registry.write.persistence import event_store_recorder
from registry.write.snapshot_writer import SNAPSHOT_INTERVAL_ENVELOPES

logger = logging.getLogger(__name__)
MESSAGE_BYTES_MAX_DEFAULT = 4 * 1024 * 1024
# Within the chart's termination grace period, with room for the server's own grace.
SHUTDOWN_SNAPSHOT_TIMEOUT_S = 15.0
SERVICE_NAMES = tuple(service.full_name for service in pb.DESCRIPTOR.services_by_name.values())


@dataclass(frozen=True)
class TlsFiles:
    certificate: Path
    private_key: Path
    client_ca: Path | None = None  # given: clients must present a certificate signed by it


@dataclass(frozen=True)
class ServerConfig:
    listen: str
    database_url: str
    projection_url: str
    registry_key: SigningKey
    kafka: str | None = None
    pinned_registry_keys: Mapping[str, bytes] | None = None  # default: the registry key
    tls: TlsFiles | None = None
    max_message_bytes: int = MESSAGE_BYTES_MAX_DEFAULT
    max_workers: int = 16
    metrics_port: int | None = None
    # Snapshots written in the background every this many positions and on a clean
    # shutdown; None: none written by this process (it still starts from one).
    snapshot_interval: int | None = SNAPSHOT_INTERVAL_ENVELOPES


class EmbeddedPipeline:
    """Relay to the embedded log and project, woken by each commit (and every 200 ms)."""

    def __init__(self, database_url: str, store: ProjectionStore, stop: threading.Event) -> None:
        engine = sqlalchemy.create_engine(database_url)
        self.log = EmbeddedLog(engine)
        self.relay = Relay(
            event_store_recorder(database_url), self.log, RelayPositions(engine), "embedded"
        )
        self.store = store
        self.stop = stop
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._run, name="embedded-pipeline", daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.wake.wait(0.2)
            self.wake.clear()
            self._step()
        self._step()  # a last pass on stop: the read models leave with everything committed

    def _step(self) -> None:
        try:
            while self.relay.publish_batch():
                pass
            catch_up_embedded(self.store, self.log)
        except Exception:  # keep serving; the next wake retries from the recorded positions
            logger.exception("embedded pipeline step failed")


class RegistryServer:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.stop_event = threading.Event()
        self.process_health = ProcessHealth()
        self.started = threading.Event()  # set once start-up has caught up, or failed
        self.startup_error: BaseException | None = None
        # Opens the store and nothing more: the replay runs once health answers.
        self.app = RegistryApplication(
            config.database_url,
            config.registry_key,
            defer_catch_up=True,
            pinned_registry_keys=config.pinned_registry_keys,
            snapshot_interval=config.snapshot_interval,
        )
        self.store = ProjectionStore(config.projection_url)
        self.pipeline = (
            None
            if config.kafka
            else EmbeddedPipeline(config.database_url, self.store, self.stop_event)
        )
        on_commit = self.pipeline.wake.set if self.pipeline else (lambda: None)
        options = [
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
        ]
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=config.max_workers),
            options=options,
            # Undecodable protobufs are the client's fault: INVALID_ARGUMENT, not INTERNAL.
            interceptors=[
                MetricsInterceptor(),
                StartupGate(self.process_health),
                MalformedRequestInterceptor(),
            ],
        )
        pb_grpc.add_CommandServiceServicer_to_server(
            CommandServicer(self.app, on_commit), self.server
        )
        pb_grpc.add_QueryServiceServicer_to_server(
            QueryServicer(self.app, self.store, self.stop_event), self.server
        )
        exchange = ExchangeServicer(self.app, self.store, self.stop_event, on_commit)
        pb_grpc.add_ExchangeServiceServicer_to_server(exchange, self.server)
        self.health = RegistryHealth(self.process_health, SERVICE_NAMES)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME), self.server)
        self.port = self._bind()

    def _bind(self) -> int:
        tls = self.config.tls
        if tls is None:
            return int(self.server.add_insecure_port(self.config.listen))
        credentials = grpc.ssl_server_credentials(
            [(tls.private_key.read_bytes(), tls.certificate.read_bytes())],
            root_certificates=tls.client_ca.read_bytes() if tls.client_ca else None,
            require_client_auth=tls.client_ca is not None,
        )
        return int(self.server.add_secure_port(self.config.listen, credentials))

    def listen(self) -> None:
        """Answer health (and /livez, /readyz beside /metrics) at once, NOT_SERVING; catch
        up in the background, then serve. `started` is set when that is over."""
        # One quick read before anything answers, so that the first answer already says
        # how much there is to replay.
        progress = StartupProgress(self.process_health, self.app.stored_head_position())
        self.metrics_port = serve_metrics(self.config.metrics_port, self.process_health)
        self.server.start()
        logger.info(
            "listening on port %d; health answers, registry calls wait for the replay "
            "(health names %r and %r)",
            self.port,
            LIVENESS_SERVICE,
            READINESS_SERVICE,
        )
        threading.Thread(
            target=self._start_up, args=(progress,), name="start-up", daemon=True
        ).start()

    def _start_up(self, progress: StartupProgress) -> None:
        try:
            self.app.catch_up(progress)
        except Exception as error:  # e.g. a chain that does not verify: never serve it
            logger.exception("start-up failed")
            self.startup_error = error
            self.process_health.mark_failed(f"start-up failed: {type(error).__name__}: {error}")
            self.started.set()
            return
        HEAD_POSITION.set(self.app.ledger.position)
        if self.pipeline and not self.stop_event.is_set():
            self.pipeline.thread.start()
            self.pipeline.wake.set()
        self.process_health.mark_caught_up(progress.finish(self.app.ledger.position))
        self.process_health.unwatch()
        self.health.serve()
        logger.info("serving on port %d (%s)", self.port, "embedded" if self.pipeline else "kafka")
        self.started.set()

    def wait_started(self, timeout_s: float | None = None) -> bool:
        """True once caught up and serving; False on timeout. Raises if start-up failed."""
        finished = self.started.wait(timeout_s)
        if self.startup_error is not None:
            raise RuntimeError("start-up failed") from self.startup_error
        return finished

    def start(self, timeout_s: float | None = None) -> None:
        """Listen and wait until serving: for callers that want a server they can use."""
        self.listen()
        if not self.wait_started(timeout_s):
            raise TimeoutError(f"start-up did not finish within {timeout_s} s")

    def stop(self, grace_s: float = 5.0) -> None:
        self.process_health.mark_stopping()
        self.health.enter_graceful_shutdown()
        self.stop_event.set()
        self.server.stop(grace_s).wait(timeout=grace_s + 5)  # bounded, like every wait here
        if self.pipeline and self.pipeline.thread.ident is not None:  # started: caught up
            self.pipeline.thread.join(timeout=grace_s)
        wanted = self.config.snapshot_interval is not None
        if wanted and self.process_health.caught_up and self.startup_error is None:
            self._final_snapshot()
        self.app.snapshot_writer.close()

    def _final_snapshot(self) -> None:
        """On a clean shutdown, a snapshot at the head: the next start replays nothing.
        Bounded like every wait here: a store that stopped answering does not hold the
        shutdown (the next start resumes from an older snapshot)."""

        def write() -> None:
            try:
                self.app.write_snapshot()
            except Exception:
                logger.exception("no snapshot written on shutdown")

        writing = threading.Thread(target=write, name="final-snapshot", daemon=True)
        writing.start()
        writing.join(SHUTDOWN_SNAPSHOT_TIMEOUT_S)
        if writing.is_alive():
            logger.warning("no snapshot on shutdown within %.0f s", SHUTDOWN_SNAPSHOT_TIMEOUT_S)
