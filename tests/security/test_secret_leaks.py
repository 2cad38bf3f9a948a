"""Secret-leak scan: a whole campaign on the localnet with real Celery workers (import a funding
wallet by its secret key over the API, create, start, distribute to 2 makers, trade to a small
target, gather, export the key) while everything that leaves the key store is recorded:

- every log record (the workers are threads in this process, so one hook on
  `logging.Logger.handle` sees theirs too), message, arguments and extra fields;
- every HTTP response body and header (API and pages, as alice);
- every Celery message published to the broker (kombu's `Producer.publish`: body + headers);
- every WebSocket message the campaign socket sends while the run goes;
- a plain-text dump of the database: every row of every table cast to text.

None may hold a wallet secret (the funding wallet's and every maker's) as base58, hex (key or
seed), a JSON array, base64 or raw bytes. The one exception is the export response: it returns
the funding key to its owner once, by design; it is kept out of the scan (and checked to hold
the key, which proves the scanner finds one).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading

import pytest
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client
from kombu.messaging import Producer
from rest_framework.test import APIClient
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from apps.campaigns.models import Campaign
from apps.localnet.seed import fund
from apps.wallets.keystore import wallet_signer
from apps.wallets.models import Wallet
from tests.factories import PASSWORD
from tests.support.campaigns import ENGINE_PARAMS as PARAMS
from tests.support.campaigns import SOL, Setup
from tests.support.engine import wait_for
from tests.support.web import bearer, session_headers

pytestmark = pytest.mark.django_db(transaction=True)


def secret_forms(keypair: Keypair) -> dict[str, bytes]:
    raw = bytes(keypair)
    seed = raw[:32]
    array = list(raw)
    return {
        "base58": str(keypair).encode(),
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
        "seed hex": seed.hex().encode(),
        "json array": json.dumps(array).encode(),
        "compact json array": json.dumps(array, separators=(",", ":")).encode(),
        "base64": base64.b64encode(raw),
        "raw bytes": raw,
        "bytes repr": repr(raw)[2:-1].encode(),  # a record or payload holding the bytes object
        "raw seed": seed,
    }


class Recorder:
    """Everything the platform emitted during the test, as (where, bytes) pairs."""

    def __init__(self):
        self.items: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()

    def add(self, where: str, data) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        elif not isinstance(data, bytes | bytearray | memoryview):
            data = repr(data).encode()
        with self._lock:
            self.items.append((where, bytes(data)))

    def leaks(self, secrets: dict[str, dict[str, bytes]]) -> list[str]:
        found = []
        for where, data in self.items:
            for wallet, forms in secrets.items():
                for form, needle in forms.items():
                    if needle in data:
                        found.append(f"{wallet} as {form} in {where}")
        return found


@pytest.fixture
def recorder(monkeypatch):
    recorder = Recorder()

    original_handle = logging.Logger.handle

    def handle(self, record):
        recorder.add(f"log {record.name}", record.getMessage())
        recorder.add(f"log {record.name} (record)", repr(record.__dict__))
        if record.exc_info:
            recorder.add(f"log {record.name} (traceback)", logging.Formatter().format(record))
        return original_handle(self, record)

    monkeypatch.setattr(logging.Logger, "handle", handle)

    original_publish = Producer.publish

    def publish(self, body, *args, **kwargs):
        recorder.add(f"celery message {kwargs.get('routing_key')}", body)
        recorder.add(f"celery message {kwargs.get('routing_key')} (headers)", kwargs)
        return original_publish(self, body, *args, **kwargs)

    monkeypatch.setattr(Producer, "publish", publish)
    return recorder


class Http:
    """alice's API and page clients; every response is recorded."""

    def __init__(self, user, recorder: Recorder):
        self.api = APIClient()
        self.api.credentials(**bearer(user))
        self.page = Client()
        self.page.force_login(user)
        self.recorder = recorder

    def record(self, response, what: str, *, scan: bool = True):
        body = b"".join(response.streaming_content) if response.streaming else response.content
        if scan:
            self.recorder.add(f"HTTP {what} (body)", body)
            self.recorder.add(f"HTTP {what} (headers)", repr(dict(response.items())))
            self.recorder.add(f"HTTP {what} (cookies)", response.cookies.output())
        return body

    def call(self, method: str, path: str, data=None, *, status: int = 200, page=False):
        client = self.page if page else self.api
        kwargs = {} if data is None else {"data": data}
        if not page and data is not None:
            kwargs["format"] = "json"
        response = getattr(client, method)(path, **kwargs)
        body = self.record(response, f"{method.upper()} {path}")
        assert response.status_code == status, (path, response.status_code, body[:500])
        return json.loads(body) if not page and body and path[-4:] != ".csv" else body


class SocketRecorder(threading.Thread):
    """The campaign WebSocket, open for the whole run in its own event loop."""

    def __init__(self, path: str, headers, recorder: Recorder):
        super().__init__(daemon=True)
        self.path, self.headers, self.recorder = path, headers, recorder
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.count = 0

    def run(self):
        asyncio.run(self._run())

    async def _run(self):
        from volumebot.asgi import application

        socket = WebsocketCommunicator(application, self.path, headers=self.headers)
        connected, _ = await socket.connect(timeout=10)
        assert connected
        self.connected.set()
        while not self.stopping.is_set():
            # receive_nothing waits without cancelling the consumer (a receive timeout would).
            if not await socket.receive_nothing(timeout=0.2):
                self.recorder.add("WebSocket message", await socket.receive_from())
                self.count += 1
        await socket.disconnect()
        from django.db import connections

        connections.close_all()


def database_dump(recorder: Recorder) -> None:
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT t::text FROM "{table}" AS t')  # noqa: S608 (our own names)
            for (row,) in cursor.fetchall():
                recorder.add(f"database table {table}", row)


def test_no_wallet_secret_leaves_the_key_store_during_a_whole_campaign(
    alice,
    chain,
    workers,
    recorder,
):
    setup = Setup(alice, chain.cluster)
    http = Http(alice, recorder)

    # A fresh funding wallet, imported over the API by its secret key.
    funding = Keypair()
    fund(chain.cluster, address=funding.pubkey(), lamports=5 * SOL)
    imported = http.call(
        "post", "/v1/wallets",
        {"mode": "import", "secret_key": str(funding), "label": "Imported"}, status=201,
    )  # fmt: skip
    campaign = http.call(
        "post", "/v1/campaigns",
        {"name": "Leak scan", "token_id": setup.token.pk,
         "pool_id": setup.pools["raydium_amm_v4"].pk, "funding_wallet_id": imported["id"],
         "params": {**PARAMS, "maker_count": 2, "concurrency_cap": 2, "maker_funding_sol": "0.1",
                    "target_volume_sol": "0.06"}},
        status=201,
    )  # fmt: skip
    campaign_id = campaign["id"]

    socket = SocketRecorder(f"/ws/campaigns/{campaign_id}/", session_headers(alice), recorder)
    socket.start()
    assert socket.connected.wait(10)
    try:
        http.call("post", f"/v1/campaigns/{campaign_id}/start")

        def done():
            http.call("get", f"/v1/campaigns/{campaign_id}/status")
            return Campaign.objects.get(pk=campaign_id).status in ("completed", "failed")

        wait_for(done, timeout=90, what="the campaign to complete")
    finally:
        socket.stopping.set()
        socket.join(10)
    campaign_row = Campaign.objects.get(pk=campaign_id)
    assert campaign_row.status == "completed", campaign_row.status_reason
    run = campaign_row.runs.get()
    assert run.trades_succeeded >= 2
    assert socket.count >= 2  # the snapshot and at least one engine event

    makers = list(Wallet.objects.filter(run_id=run.pk, kind="maker"))
    assert len(makers) == 2
    funding_wallet = Wallet.objects.get(pk=imported["id"])

    # Everything alice can read about it, over the API and as pages.
    for path in (
        "/v1/wallets", "/v1/wallets?kind=maker", f"/v1/campaigns/{campaign_id}",
        f"/v1/campaigns/{campaign_id}/status", f"/v1/campaigns/{campaign_id}/logs",
        f"/v1/campaigns/{campaign_id}/logs.csv", "/v1/campaigns", "/v1/me",
    ):  # fmt: skip
        http.call("get", path)
    for wallet in [funding_wallet, *makers]:
        http.call("get", f"/v1/wallets/{wallet.pk}")
        http.call("get", f"/wallets/{wallet.pk}/", page=True)
    for path in (
        "/dashboard/", "/wallets/", "/campaigns/", f"/campaigns/{campaign_id}/",
        f"/campaigns/{campaign_id}/logs/", f"/wallets/{funding_wallet.pk}/export/",
    ):  # fmt: skip
        http.call("get", path, page=True)

    # The export: the one response that returns the key, to its owner, by design.
    response = http.api.post(
        f"/v1/wallets/{funding_wallet.pk}/export", {"password": PASSWORD}, format="json"
    )
    exported = http.record(response, "export", scan=False)
    assert response.status_code == 200, exported
    assert str(funding).encode() in exported  # the scanner would see it: it looks right

    database_dump(recorder)

    secrets = {"funding wallet": secret_forms(funding)}
    for maker in makers:
        with wallet_signer(maker) as signer:
            secrets[f"maker {maker.address}"] = secret_forms(signer.keypair)
    assert Pubkey.from_string(funding_wallet.address) == funding.pubkey()
    sources = {where.split(" (")[0].split(" ")[0] for where, _ in recorder.items}
    assert {"log", "HTTP", "celery", "WebSocket", "database"} <= sources, sources
    leaks = recorder.leaks(secrets)
    assert not leaks, "Wallet secrets leaked:\n  " + "\n  ".join(sorted(set(leaks)))
