"""/metrics: Prometheus text, closed unless the scrape carries the token or comes from an
allowed network; the series carry the labels dashboards and alerts rely on."""

import pytest
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from apps.core import metrics
from apps.core.chain import chain_run
from tests.support.campaigns import make_campaign, make_job

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-for-tests"


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []

    def get() -> dict[tuple[str, tuple], float]:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples
        }

    return get


def value(samples, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_it_is_closed_without_a_token_or_an_allowed_network(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []

    assert client.get("/metrics").status_code == 403
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert b"volumebot" not in wrong.content


def test_it_is_closed_when_nothing_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []

    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 403


def test_it_opens_to_an_allowed_network(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "127.0.0.0/8"]

    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.5").status_code == 403


def test_it_exposes_http_latency_per_view(client, scrape):
    client.get(reverse("core:healthz"))

    samples = scrape()

    count = value(
        samples, "django_http_requests_latency_seconds_by_view_method_count",
        view="core:healthz", method="GET",
    )  # fmt: skip
    assert count is not None and count >= 1


def test_it_exposes_queue_depths_and_job_counts_by_queue_and_status(scrape, alice):
    run = make_campaign(alice, status="active").runs.get()
    make_job(run, status="dead", type="plan", sequence=1)
    make_job(run, status="dead", type="plan", sequence=2)
    make_job(run, status="queued", type="plan", sequence=3)

    samples = scrape()

    assert value(samples, "volumebot_queue_depth", queue="trade.buy") == 0
    assert value(samples, "volumebot_jobs_by_status", queue="status", status="dead") == 2
    assert value(samples, "volumebot_jobs_by_status", queue="status", status="queued") == 1


def test_it_exposes_rpc_calls_by_endpoint_method_and_outcome(localnet, scrape):
    before = value(
        scrape(), "volumebot_rpc_calls_total", endpoint="localnet-0", method="getSlot",
        outcome="ok",
    ) or 0  # fmt: skip

    slot = chain_run("localnet", lambda pool: pool.call("getSlot", lambda c: c.get_slot()))

    assert slot.value > 0
    samples = scrape()
    labels = {"endpoint": "localnet-0", "method": "getSlot"}
    assert value(samples, "volumebot_rpc_calls_total", **labels, outcome="ok") == before + 1
    assert value(samples, "volumebot_rpc_call_seconds_count", **labels) >= 1


def test_it_exposes_job_trade_volume_and_landing_series(scrape):
    def counts(samples):
        return (
            value(samples, "volumebot_jobs_total", queue="trade.buy", type="trade_buy",
                  outcome="succeeded") or 0,
            value(samples, "volumebot_trades_total", side="buy", outcome="landed") or 0,
            value(samples, "volumebot_trade_volume_lamports_total", side="buy") or 0,
            value(samples, "volumebot_tx_land_seconds_count", kind="buy") or 0,
            value(samples, "volumebot_job_seconds_count", queue="trade.buy", type="trade_buy")
            or 0,
        )  # fmt: skip

    before = counts(scrape())
    metrics.job_observe(queue="trade.buy", type="trade_buy", outcome="succeeded", seconds=0.4)
    metrics.trade_observe(
        side="buy", outcome="landed", volume_lamports=25_000_000, land_seconds=0.8
    )

    after = counts(scrape())
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 25_000_000, 1, 1]


def test_it_exposes_websocket_connections_and_alerts(scrape):
    metrics.WEBSOCKET_CONNECTIONS.labels(consumer="campaign").inc()
    try:
        samples = scrape()
    finally:
        metrics.WEBSOCKET_CONNECTIONS.labels(consumer="campaign").dec()

    assert value(samples, "volumebot_websocket_connections", consumer="campaign") >= 1


def test_it_sums_every_process_in_multiprocess_mode(monkeypatch, tmp_path):
    from prometheus_client import REGISTRY, generate_latest

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    registry = metrics.exposed_registry()

    assert registry is not REGISTRY
    assert generate_latest(registry) == b""  # no process wrote a file into the empty folder
