"""The floor for unary calls: a bare grpcio server whose one method returns the request
bytes, with the same thread pool and message limits as the registry. Prints its port.

    python -m tests.bench.echo_server"""

from __future__ import annotations

import signal
import threading
from concurrent import futures
from typing import Any

import grpc

from registry.service.server import ServerConfig

ECHO_METHOD = "/bench.Echo/Echo"


def _echo(request: bytes, context: Any) -> bytes:
    return request


def main() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=ServerConfig.max_workers))
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"serving echo on port {port}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    server.stop(grace=1)


if __name__ == "__main__":
    main()
