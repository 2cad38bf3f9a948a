"""`asgi_server`: volumebot.asgi served by uvicorn in a thread (HTTP and WebSocket, like
`make run`), for browser tests that need the campaign page's live socket. pytest-django's
`live_server` is WSGI only. Import the fixture into the test module that uses it."""

import re
import socket
import threading
import time
from email import message_from_bytes

import pytest
import uvicorn
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from tests.factories import PASSWORD
from tests.support.database import end_other_sessions


@pytest.fixture
def asgi_server(transactional_db):
    from volumebot.asgi import application

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            application,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            log_config=None,  # the project's logging (JSON, redacted), as under `make run`
        )
    )
    server.install_signal_handlers = lambda: None  # the test's thread keeps its handlers
    thread = threading.Thread(target=server.run, name="asgi-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    # The server's worker threads keep their database connections open.
    end_other_sessions()


def sign_up_verify_and_sign_in(page, base_url: str, *, email: str, mail_dir) -> None:
    """Sign up through the page, follow the verification link from the e-mail written to
    `mail_dir` (DevEmailBackend), then sign in: the page ends on the dashboard."""
    page.goto(f"{base_url}/accounts/signup/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    (mail_file,) = mail_dir.glob("*.eml")
    body = message_from_bytes(mail_file.read_bytes()).get_payload(0).get_payload(decode=True)
    link = re.search(r"/accounts/verify/\S+/", body.decode()).group(0)
    page.goto(f"{base_url}{link}")
    page.get_by_text("Your e-mail address is verified.").wait_for()
    page.get_by_label("E-mail", exact=True).first.fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()


def start_campaign_in_the_wizard(page, *, name: str, pool, wallet, target_sol: str) -> None:
    """From any page: open the campaign wizard, pick the pool's token, the pool and the funding
    wallet, fill small fast trades up to `target_sol`, review the estimate and create and start
    the campaign; the page ends on the campaign's detail."""
    page.get_by_role("link", name="Campaigns").first.click()
    page.get_by_role("link", name="New campaign").first.click()
    with page.expect_response(lambda response: "/campaigns/new/pools/" in response.url):
        page.get_by_label("Token", exact=True).select_option(str(pool.token_id))
    page.get_by_label("Pool", exact=True).select_option(str(pool.pk))
    page.get_by_label("Funding wallet").select_option(str(wallet.pk))
    page.get_by_label("Campaign name").fill(name)
    for label, value in (
        ("SOL per maker wallet", "0.2"), ("Smallest trade (SOL)", "0.01"),
        ("Largest trade (SOL)", "0.03"), ("Shortest delay (seconds)", "0.1"),
        ("Longest delay (seconds)", "0.3"), ("Buys (%)", "60"),
        ("Target volume (SOL)", target_sol),
    ):  # fmt: skip
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_text("These parameters pass every check.").wait_for()
    page.get_by_role("button", name="Review", exact=True).click()
    page.locator("#estimate").get_by_text("Total cost").wait_for()
    page.get_by_label("Start now").check()
    page.get_by_role("button", name="Create and start").click()
    page.get_by_role("heading", name=name).wait_for()


# Every toast a page shows, in `window.__toasts`: a toast goes after 6 s, which a loaded
# machine can spend between two steps of a test, so tests look here (`toast_shown`).
RECORD_TOASTS = """document.addEventListener("DOMContentLoaded", () => {
  window.__toasts = [];
  const box = document.getElementById("toasts");
  if (!box) return;
  const note = (node) => {
    if (node.classList && node.classList.contains("toast")) {
      window.__toasts.push(node.textContent.trim());
    }
  };
  box.querySelectorAll(".toast").forEach(note);
  new MutationObserver((changes) => changes.forEach((change) => change.addedNodes.forEach(note)))
    .observe(box, { childList: true });
});"""


def toast_shown(page, text: str) -> None:
    """Wait until the page has shown a toast saying `text` (it may have gone since)."""
    page.wait_for_function("(text) => (window.__toasts || []).includes(text)", arg=text)


def publish(group: str, event: dict) -> None:
    """group_send from another thread: Playwright's sync API runs an event loop in this one."""
    thread = threading.Thread(
        target=lambda: async_to_sync(get_channel_layer().group_send)(group, event)
    )
    thread.start()
    thread.join(timeout=10)


VIEWS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}


def shoot(page, folder, name: str) -> None:
    """Full-page screenshots light and dark, desktop and 375 px wide."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for view, size in VIEWS.items():
            page.set_viewport_size(size)
            page.screenshot(path=folder / f"{name}-{scheme}-{view}.png", full_page=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(VIEWS["desktop"])
