"""`make run` end to end: the embedded stack comes up, serves pages, and Ctrl-C leaves nothing."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest
from django.conf import settings

from apps.localnet.server import free_port_pair


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(process: psutil.Process) -> bool:
    """Running, and not a zombie (an exited process whose entry waits to be reaped)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until_served(url: str, process: subprocess.Popen, seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "make run exited early"
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} was not served within {seconds} s")


def test_it_serves_the_platform_and_ctrl_c_leaves_no_process(tmp_path):
    web_port, localnet_port = free_port(), free_port_pair()  # the localnet's PubSub: port + 1
    # What a fresh terminal has: none of the test settings' variables, no DATABASE_URL/REDIS_URL.
    environment = dict(
        PATH=os.environ["PATH"],
        HOME=os.environ.get("HOME", str(tmp_path)),
        DEVSTACK_DIR=str(tmp_path / "devstack"),
        WEB_PORT=str(web_port),
        LOCALNET_PORT=str(localnet_port),
    )
    # A file, not a pipe: nobody reads a pipe while the stack runs, and a full one blocks it.
    log = (tmp_path / "make-run.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "volumebot.devstack", "run"],
        cwd=settings.BASE_DIR,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        started = time.monotonic()
        signin = wait_until_served(f"http://127.0.0.1:{web_port}/accounts/signin/", process, 90)
        docs = wait_until_served(f"http://127.0.0.1:{web_port}/api/docs/", process, 10)
        print(f"make run served the sign-in page after {time.monotonic() - started:.1f} s")
        assert b"Sign in" in signin.content
        assert b"swagger-ui" in docs.content
        credentials = (tmp_path / "devstack" / "demo-credentials.txt").read_text()
        assert "demo@volumebot.local" in credentials
        assert "admin@volumebot.local" in credentials
        log_text = (tmp_path / "make-run.log").read_text(errors="replace")
        assert "Demo account: wallet " in log_text
        assert "VBDEMO" in log_text
        children = descendants(process.pid)
        names = " ".join(" ".join(child.cmdline()) for child in children)
        for expected in ("uvicorn", "celery", "beat", "localnet", "pool_prices", "redis-server"):
            assert expected in names

        # Ctrl-C in the terminal: SIGINT to the foreground process group.
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)

        still_alive = [child for child in children if alive(child)]
        assert still_alive == []
        postgres = [
            p
            for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] and str(tmp_path) in " ".join(p.info["cmdline"])
        ]
        deadline = time.monotonic() + 10
        while postgres and time.monotonic() < deadline:
            postgres = [p for p in postgres if alive(p)]
            time.sleep(0.2)
        assert postgres == []
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
        print((tmp_path / "make-run.log").read_text(errors="replace")[-3000:])


def test_the_supervisor_restarts_a_dead_worker_with_backoff(tmp_path, capsys):
    from volumebot.devstack import restart_delay, supervise

    starts = tmp_path / "starts"
    # Dies at once on its first two starts (as a crashing worker would), then stays up.
    worker = (
        "import pathlib, sys, time\n"
        f"p = pathlib.Path({str(starts)!r})\n"
        "n = len(p.read_text()) if p.exists() else 0\n"
        "p.write_text('x' * (n + 1))\n"
        "sys.exit(3) if n < 2 else time.sleep(120)\n"
    )
    commands = {
        "web": [sys.executable, "-c", "import time; time.sleep(120)"],
        "worker": [sys.executable, "-c", worker],
    }

    def start(name):
        return subprocess.Popen(commands[name], start_new_session=True)

    running = {name: start(name) for name in commands}
    web = running["web"]
    deadline = time.monotonic() + 60

    def stopping():
        up = starts.exists() and len(starts.read_text()) == 3
        return (up and running["worker"].poll() is None) or time.monotonic() > deadline

    try:
        code = supervise(running, start=start, stopping=stopping)
    finally:
        for process in running.values():
            process.kill()
            process.wait()

    assert code == 0
    assert starts.read_text() == "xxx"
    assert running["web"] is web  # untouched
    out = capsys.readouterr().out
    assert "worker exited with code 3; restarting in 1 s." in out
    assert "worker exited with code 3; restarting in 2 s." in out
    assert [restart_delay(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_the_supervisor_stops_when_the_web_server_dies(capsys):
    from volumebot.devstack import supervise

    running = {
        "web": subprocess.Popen([sys.executable, "-c", "raise SystemExit(5)"]),
        "worker": subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]),
    }
    worker = running["worker"]
    try:
        code = supervise(
            running, start=lambda name: pytest.fail("restarted"), stopping=lambda: False
        )
        assert worker.poll() is None  # left for the caller to stop with the rest
    finally:
        worker.kill()
        worker.wait()

    assert code == 1
    assert "web exited with code 5; stopping." in capsys.readouterr().out
