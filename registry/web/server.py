"""Running the web view under uvicorn: in the foreground (`credit-registry web`) or on a
thread beside the gRPC service (`credit-registry serve --web`)."""

from __future__ import annotations

import threading
import time

import uvicorn

from registry.web.app import WebConfig, create_app

START_TIMEOUT_S = 30.0


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65_535:
        raise ValueError(f"--listen must be HOST:PORT, not {listen!r}")
    return host.strip("[]"), int(port)


def uvicorn_server(config: WebConfig, listen: str) -> uvicorn.Server:
    host, port = split_listen(listen)
    return uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host=host,
            port=port,
            log_config=None,  # the process's logging (JSON or text) applies
            access_log=False,
            proxy_headers=True,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
    )


def bound_port(server: uvicorn.Server) -> int:
    for listener in server.servers:
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("the web view is not listening")


class BackgroundWebServer:
    """The web view on its own thread; `start` returns once it listens."""

    def __init__(self, config: WebConfig, listen: str) -> None:
        self.server = uvicorn_server(config, listen)
        self.thread = threading.Thread(target=self.server.run, name="web-view", daemon=True)

    def start(self) -> int:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web view did not start")
            time.sleep(0.02)
        return bound_port(self.server)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
