"""Browser tests: Playwright driving Debian's Chromium (browser downloads do not work here)."""

import os
import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import sync_playwright

from tests.e2e.live_asgi import RECORD_TOASTS

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium keeps trying to reach Google's hosts, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    # This hook sees every collected item of the session, not only this folder's.
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session", autouse=True)
def _async_unsafe_ok():
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the
    # test itself are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: run `make chromium` (apt-get install chromium)."
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh page. Every browser test is also a Content-Security-Policy test: anything the
    policy blocked (a script, a style, a WebSocket) fails the test at teardown."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.add_init_script(RECORD_TOASTS)
    page = context.new_page()
    page.set_default_timeout(15_000)
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield page
    context.close()
    assert blocked == [], "blocked by the Content-Security-Policy:\n" + "\n".join(blocked)


@pytest.fixture
def screenshots(request) -> Path:
    """A folder named after the test for its screenshots (artifacts/screenshots/<test>)."""
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    folder = Path(settings.BASE_DIR) / "artifacts" / "screenshots" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
