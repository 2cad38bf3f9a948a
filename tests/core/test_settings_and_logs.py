import contextlib
import io
import json
import logging
import os
import subprocess
import sys
from email import message_from_bytes

import pytest
from django.conf import settings
from django.contrib import messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.mail import send_mail
from django.http import HttpResponse
from django.test import RequestFactory, override_settings
from pythonjsonlogger.json import JsonFormatter

from apps.core.middleware import htmx_messages_middleware

BASE_ENV = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "volumebot.settings.base"}


def start_django(**variables) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**BASE_ENV, **variables},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_to_start_without_production_secrets_when_debug_is_off(tmp_path):
    result = start_django(DEBUG="0", HOME=str(tmp_path))

    assert result.returncode != 0
    assert (
        "DEBUG is off, so these settings must be set in the environment: "
        "SECRET_KEY, ALLOWED_HOSTS, WALLET_MASTER_KEY" in result.stderr
    )


def test_it_names_only_what_is_missing(tmp_path):
    key_file = tmp_path / "master.key"
    key_file.write_text("dGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGVzLWxvbmchISE=\n")

    result = start_django(DEBUG="0", SECRET_KEY="s" * 50, WALLET_MASTER_KEY_FILE=str(key_file))

    assert result.returncode != 0
    assert "must be set in the environment: ALLOWED_HOSTS\n" in result.stderr


def test_it_starts_when_everything_is_set(tmp_path):
    result = start_django(
        DEBUG="0",
        SECRET_KEY="s" * 50,
        ALLOWED_HOSTS="example.com",
        WALLET_MASTER_KEY="dGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGVzLWxvbmchISE=",
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("variables", "site_url"),
    [
        ({"WEB_PORT": "8123"}, "http://127.0.0.1:8123"),
        ({"WEB_PORT": "8123", "SITE_URL": "https://vb.example.com"}, "https://vb.example.com"),
    ],
)
def test_site_url_follows_the_dev_port_unless_set(tmp_path, variables, site_url):
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.SITE_URL)"],
        env={**BASE_ENV, "DEBUG": "1", "HOME": str(tmp_path), **variables},
        cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.stdout.strip() == site_url, result.stderr


@contextlib.contextmanager
def captured_log_lines():
    """The JSON lines the configured console handler writes, parsed."""
    (handler,) = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        handler.setStream(previous)
        lines.extend(json.loads(line) for line in buffer.getvalue().splitlines())


@pytest.mark.django_db
def test_it_stamps_every_line_of_a_request_with_its_id(client):
    from django.urls import path

    def noisy(request):
        logging.getLogger("volumebot.view").info("inside the view")
        return HttpResponse("ok")

    with (
        captured_log_lines() as lines,
        override_settings(ROOT_URLCONF=type("urls", (), {"urlpatterns": [path("n", noisy)]})),
    ):
        client.get("/n", HTTP_X_REQUEST_ID="fedcba9876543210fedcba9876543210")

    inside = next(line for line in lines if line["message"] == "inside the view")
    assert inside["request_id"] == "fedcba9876543210fedcba9876543210"
    assert inside["level"] == "INFO"
    assert inside["name"] == "volumebot.view"


def request_with_messages(*, htmx: bool):
    request = RequestFactory().post("/x", **({"HTTP_HX_REQUEST": "true"} if htmx else {}))
    request.htmx = htmx
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def test_it_sends_messages_to_htmx_requests_as_a_trigger_event():
    def view(request):
        messages.success(request, "Saved.")
        return HttpResponse("partial")

    request = request_with_messages(htmx=True)

    response = htmx_messages_middleware(view)(request)

    assert json.loads(response.headers["HX-Trigger"]) == {
        "messages": [{"level": "success", "text": "Saved."}]
    }


def test_it_leaves_messages_for_the_next_full_page_without_htmx():
    def view(request):
        messages.info(request, "Later.")
        return HttpResponse("page")

    request = request_with_messages(htmx=False)

    response = htmx_messages_middleware(view)(request)

    assert "HX-Trigger" not in response.headers
    assert [str(m) for m in request._messages] == ["Later."]


def test_it_writes_development_mail_to_the_mail_folder(tmp_path, settings):
    settings.MAIL_DIR = tmp_path
    settings.EMAIL_BACKEND = "apps.core.mail.DevEmailBackend"

    send_mail("Hello", "Body text", None, ["dave@example.com"])

    (written,) = tmp_path.glob("*.eml")
    message = message_from_bytes(written.read_bytes())
    assert message["To"] == "dave@example.com"
    assert message["Subject"] == "Hello"


def test_it_keeps_messages_for_the_page_an_htmx_redirect_opens():
    def view(request):
        messages.success(request, "Created.")
        response = HttpResponse(status=204)
        response["HX-Redirect"] = "/next/"
        return response

    request = request_with_messages(htmx=True)

    response = htmx_messages_middleware(view)(request)

    assert "HX-Trigger" not in response.headers
    assert [str(m) for m in request._messages] == ["Created."]


SECRET = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("logger", "message", "args"),
    [
        (
            "uvicorn.error",
            '%s - "WebSocket %s" [accepted]',
            ("1.2.3.4:5", f"/ws/x/?token={SECRET}"),
        ),
        ("django.request", "Not Found: %s", (f"/v1/me?a=1&ticket={SECRET}&b=2",)),
        ("celery.app.trace", f"Task got url http://h/ws?access={SECRET}", ()),
    ],
)
def test_logs_redact_credentials_in_query_strings(logger, message, args):
    with captured_log_lines() as lines:
        logging.getLogger(logger).warning(message, *args)

    (line,) = lines
    assert SECRET not in json.dumps(line)
    assert "=[redacted]" in line["message"]


def test_uvicorn_logs_a_websocket_handshake_without_its_token(tmp_path):
    import socket as socket_module
    import time

    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with socket_module.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path / "uvicorn.log").open("wb")
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "volumebot.settings.test"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "volumebot.asgi:application", "--port", str(port),
         "--no-access-log", "--lifespan", "off"],
        cwd=settings.BASE_DIR, env=environment, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket_module.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "uvicorn did not start"
                assert server.poll() is None, (tmp_path / "uvicorn.log").read_text()
                time.sleep(0.2)
        for query in (f"token={SECRET}", f"ticket={SECRET}&x=1"):
            with pytest.raises(InvalidStatus):
                connect(
                    f"ws://127.0.0.1:{port}/ws/campaigns/1/?{query}",
                    origin="http://127.0.0.1",
                    open_timeout=10,
                )
        # The handshake is logged as it is answered; wait for both lines, however slow.
        while (tmp_path / "uvicorn.log").read_text().count("WebSocket /ws/") < 2:
            assert time.monotonic() < deadline, "the handshakes were not logged"
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()

    output = (tmp_path / "uvicorn.log").read_text()
    assert "/ws/campaigns/1/?token=[redacted]" in output
    assert "/ws/campaigns/1/?ticket=[redacted]&x=1" in output
    assert SECRET not in output
