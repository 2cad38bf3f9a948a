"""A localnet started as the README says (`manage.py localnet --seed`), for outside clients."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from apps.localnet.server import free_port_pair

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def readme_localnet(tmp_path):
    """(RPC URL, PubSub URL) of a seeded localnet in its own process."""
    port = free_port_pair()
    # Development settings (DEBUG=1) need no services; the localnet command needs none either.
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "volumebot.settings.base",
        "DEBUG": "1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "localnet",
            "--port",
            str(port),
            "--seed",
            "--state-dir",
            str(tmp_path / "localnet"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"})
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail(f"localnet did not serve: {process.communicate()[0].decode()[-2000:]}")
            time.sleep(0.2)
    yield url, f"ws://127.0.0.1:{port + 1}"
    process.terminate()
    process.wait(timeout=15)
