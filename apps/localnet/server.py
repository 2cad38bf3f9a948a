"""Serving the localnet over HTTP: a background-thread server for tests, and the long-running
server behind `manage.py localnet` (with state kept across restarts)."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from apps.localnet.app import Faults, create_app
from apps.localnet.cluster import Cluster

log = logging.getLogger(__name__)

STATE_FILE = "state.json"


def free_port(host: str = "127.0.0.1") -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class RunningLocalnet:
    """A localnet served over HTTP from a background thread; `stop()` shuts it down."""

    cluster: Cluster
    faults: Faults
    host: str
    port: int
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def _uvicorn(cluster: Cluster, faults: Faults, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(cluster, faults=faults),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # Leave logging to the process (Django's JSON handler): uvicorn's own config would
        # re-route every uvicorn logger of the process, a web server's too.
        log_config=None,
    )
    return uvicorn.Server(config)


def start_server(
    *,
    cluster: Cluster | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: Faults | None = None,
    startup_timeout_s: float = 10.0,
) -> RunningLocalnet:
    """Serve `cluster` (a fresh one by default) on host:port (a free port when 0) and return
    once it accepts connections. For tests whose workers run in other processes."""
    cluster = cluster or Cluster()
    faults = faults or Faults()
    port = port or free_port(host)
    server = _uvicorn(cluster, faults, host, port)
    server.install_signal_handlers = lambda: None  # the main thread keeps its own handlers
    thread = threading.Thread(target=server.run, name=f"localnet-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"localnet server did not start on {host}:{port}")
        time.sleep(0.01)
    return RunningLocalnet(cluster, faults, host, port, server, thread)


def load_or_create(*, state_dir: Path | None, slot_ms: int) -> tuple[Cluster, bool]:
    """The cluster saved in `state_dir` if any (True), else a fresh one (False)."""
    if state_dir is not None and (state_dir / STATE_FILE).exists():
        return Cluster.load(state_dir / STATE_FILE, slot_ms=slot_ms), True
    return Cluster(slot_ms=slot_ms), False


def serve_forever(
    *,
    cluster: Cluster,
    host: str,
    port: int,
    state_dir: Path | None,
    save_every_s: float = 10.0,
    faults: Faults | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM, saving state every `save_every_s` and on the way out."""
    running = start_server(cluster=cluster, host=host, port=port, faults=faults)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info("localnet serving on %s (Jito at %s/api/v1/bundles)", running.url, running.url)
    try:
        while not stop.wait(save_every_s):
            if state_dir is not None:
                cluster.save(state_dir / STATE_FILE)
    finally:
        running.stop()
        if state_dir is not None:
            cluster.save(state_dir / STATE_FILE)
