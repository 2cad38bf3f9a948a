"""Serving the localnet over HTTP (JSON-RPC and Jito) and its PubSub websocket on the next port,
as a node does: a background-thread server for tests, and the long-running server behind
`manage.py localnet` (with state kept across restarts)."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from apps.localnet.app import Faults, create_app
from apps.localnet.cluster import Cluster
from apps.localnet.pubsub import PubSubHub, create_pubsub_app

log = logging.getLogger(__name__)

STATE_FILE = "state.json"


def free_port(host: str = "127.0.0.1") -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _is_free(host: str, port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port_pair(host: str = "127.0.0.1") -> int:
    """A free port whose next port is free too (JSON-RPC on it, PubSub on the next)."""
    for _ in range(100):
        port = free_port(host)
        if port < 65535 and _is_free(host, port + 1):
            return port
    raise RuntimeError("no two free consecutive ports")


@dataclass
class _Served:
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class RunningLocalnet:
    """A localnet served from background threads (JSON-RPC on `port`, PubSub on `port + 1`);
    `stop()` shuts both down. `stop_pubsub()` / `start_pubsub()` take the websocket alone
    down and up again (a client's reconnect, tested)."""

    cluster: Cluster
    faults: Faults
    host: str
    port: int
    hub: PubSubHub
    calls: Counter  # JSON-RPC requests served, by method
    _rpc: _Served
    _pubsub: _Served | None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port + 1}"

    def stop_pubsub(self) -> None:
        if self._pubsub is not None:
            self._pubsub.stop()
            self._pubsub = None

    def start_pubsub(self) -> None:
        if self._pubsub is None:
            self.hub = PubSubHub(self.cluster)
            self._pubsub = _serve(create_pubsub_app(self.cluster, hub=self.hub),
                                  self.host, self.port + 1)  # fmt: skip

    def stop(self) -> None:
        self.stop_pubsub()
        self._rpc.stop()


def _serve(app, host: str, port: int, startup_timeout_s: float = 10.0) -> _Served:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # Leave logging to the process (Django's JSON handler): uvicorn's own config would
        # re-route every uvicorn logger of the process, a web server's too.
        log_config=None,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # the main thread keeps its own handlers
    thread = threading.Thread(target=server.run, name=f"localnet-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"localnet server did not start on {host}:{port}")
        time.sleep(0.01)
    return _Served(server, thread)


def start_server(
    *,
    cluster: Cluster | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: Faults | None = None,
    pubsub: bool = True,
) -> RunningLocalnet:
    """Serve `cluster` (a fresh one by default) on host:port (free ports when 0), its PubSub
    websocket on port + 1 unless `pubsub` is off, and return once both accept connections.
    For tests whose workers run in other processes."""
    cluster = cluster or Cluster()
    faults = faults or Faults()
    port = port or (free_port_pair(host) if pubsub else free_port(host))
    app = create_app(cluster, faults=faults)
    rpc = _serve(app, host, port)
    hub = PubSubHub(cluster)
    served = _serve(create_pubsub_app(cluster, hub=hub), host, port + 1) if pubsub else None
    return RunningLocalnet(cluster, faults, host, port, hub, app.state.calls, rpc, served)


def load_or_create(
    *, state_dir: Path | None, slot_ms: int, confirm_after_slots: int = 0
) -> tuple[Cluster, bool]:
    """The cluster saved in `state_dir` if any (True), else a fresh one (False)."""
    clock = {"slot_ms": slot_ms, "confirm_after_slots": confirm_after_slots}
    if state_dir is not None and (state_dir / STATE_FILE).exists():
        return Cluster.load(state_dir / STATE_FILE, **clock), True
    return Cluster(**clock), False


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
    log.info(
        "localnet serving on %s (Jito at %s/api/v1/bundles, PubSub at %s)",
        running.url, running.url, running.ws_url,
    )  # fmt: skip
    try:
        while not stop.wait(save_every_s):
            if state_dir is not None:
                cluster.save(state_dir / STATE_FILE)
    finally:
        running.stop()
        if state_dir is not None:
            cluster.save(state_dir / STATE_FILE)
