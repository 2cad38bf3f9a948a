"""The control room: KPIs from the run rows, queue depths from the broker, workers that answer,
RPC endpoints probed, dead letters and flagged users; the HTMX poll gets only the stats."""

import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from apps.admin_ops import alerts, selectors, services
from apps.execution.models import Execution
from tests.support.campaigns import SOL, make_campaign, make_execution, make_job
from tests.workers import threads_worker
from volumebot.celery import QUEUES

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    # Start empty: earlier tests of the run may have left tasks no worker consumed (e.g. the
    # e-mail notifications of campaigns they started).
    client.delete(*[f"{prefix}{queue}" for queue in QUEUES])
    yield client, prefix
    client.delete(*[f"{prefix}{queue}" for queue in QUEUES])
    client.close()


@pytest.fixture
def activity(alice, bob):
    """alice: one running run with 3 landed trades and 1 failed in the last hour, 1 landed 3 h
    ago; bob: one paused run; one dead-letter job."""
    run = make_campaign(alice, status="active").runs.get()
    make_campaign(bob, status="paused")
    job = make_job(run, status="succeeded", type="trade_buy")
    for n, side in enumerate(["buy", "sell", "buy"]):
        make_execution(run, job=job, side=side, sol=SOL // 10, fee=5_000, n=n)
    make_execution(run, job=job, status="failed", sol=SOL // 10, fee=5_000, n=3)
    old = make_execution(run, job=job, sol=SOL, fee=5_000, n=4)
    Execution.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=3))
    make_job(run, status="dead", type="plan", sequence=9)
    return run


def test_it_computes_the_kpis_from_executions_and_runs(activity):
    kpis = selectors.control_room_kpis()

    assert kpis["runs"] == {"running": 1, "paused": 1, "stopping": 0}
    hour, day = kpis["hour"], kpis["day"]
    assert (hour.trades, hour.landed, hour.failed) == (4, 3, 1)
    assert hour.volume_lamports == 3 * SOL // 10
    assert hour.spent_lamports == 4 * 5_000
    assert hour.success_rate == 0.75
    assert (day.trades, day.landed, day.volume_lamports) == (5, 4, 3 * SOL // 10 + SOL)
    assert kpis["dead_jobs"] == 1


def test_it_shows_the_control_room_to_an_operator(operator, activity):
    response = operator.get(reverse("admin:control_room"))

    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="control-room-stats"' in content
    assert 'hx-trigger="every 10s"' in content
    assert 'id="pause-all"' in content
    assert '<div class="value" id="kpi-running">1</div>' in content
    assert '<div class="value" id="kpi-trades-hour">4</div>' in content
    assert '<div class="value" id="kpi-volume-day">1.300000000</div>' in content
    assert '<div class="value" id="kpi-success">80%</div>' in content
    assert '<div class="value" id="kpi-spent">0.000025000</div>' in content
    assert '?status__exact=dead">1</a>' in content
    assert "Control room" in content


def test_it_answers_the_htmx_poll_with_the_stats_partial_only(operator, activity):
    response = operator.get(reverse("admin:control_room"), headers={"HX-Request": "true"})

    content = response.content.decode()
    assert content.lstrip().startswith('<div id="control-room-stats"')
    assert 'id="pause-all"' not in content
    assert "<html" not in content


def test_it_shows_the_pause_all_state(operator, carol):
    services.pause_all_set(enabled=True, actor=carol, message="maintenance")

    content = operator.get(reverse("admin:control_room")).content.decode()

    assert "All campaigns are paused</strong>: maintenance" in content
    assert 'value="Resume all"' in content


def test_it_reads_queue_depths_from_the_broker_under_the_key_prefix(broker):
    client, prefix = broker
    client.rpush(f"{prefix}trade.buy", "m1", "m2")
    client.rpush(f"{prefix}trade.buy\x06\x163", "m3")
    client.rpush(f"{prefix}webhook", "m4")
    client.rpush("trade.buy", "not ours")  # another prefix's queue is not counted

    try:
        depths = selectors.queue_depths()
    finally:
        client.delete("trade.buy", f"{prefix}trade.buy\x06\x163")

    assert depths == {**dict.fromkeys(QUEUES, 0), "trade.buy": 3, "webhook": 1}


def test_it_reports_an_unreachable_broker_as_unknown(settings, unused_tcp_port):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{unused_tcp_port}/0"

    assert selectors.queue_depths() == dict.fromkeys(QUEUES)


def test_it_lists_the_workers_that_answer_with_their_queues(settings):
    settings.OPS_INSPECT_TIMEOUT_S = 1.0
    with threads_worker(queues=["trade.buy", "trade.sell"]):
        # A worker just started may miss the first broadcast: ask again for a few seconds.
        deadline = time.monotonic() + 10
        workers = selectors.worker_heartbeats()
        while not workers and time.monotonic() < deadline:
            workers = selectors.worker_heartbeats()

    assert len(workers) == 1
    assert workers[0].queues == ["trade.buy", "trade.sell"]


def test_it_probes_every_rpc_endpoint(localnet, settings, unused_tcp_port):
    settings.SOLANA_RPC_URLS = {
        **settings.SOLANA_RPC_URLS, "devnet": [f"http://127.0.0.1:{unused_tcp_port}"],
    }  # fmt: skip

    rows = {row.name: row for row in selectors.rpc_health()}

    assert rows["localnet-0"].available is True
    assert rows["localnet-0"].slot > 0
    assert rows["localnet-0"].latency_ms is not None
    assert rows["devnet-0"].available is False
    assert rows["devnet-0"].cooling_for_s > 0
    assert rows["devnet-0"].last_error
    assert rows["devnet-0"].error_rate == 1.0


def test_it_lists_flagged_users_on_the_control_room(operator, alice, settings):
    settings.OPS_ABUSE_THRESHOLD = 2
    alerts.alert_raise(kind="guardrail", user=alice, message="slippage above the maximum")
    alerts.alert_raise(kind="guardrail", user=alice, message="slippage above the maximum")

    content = operator.get(reverse("admin:control_room")).content.decode()

    assert f'href="/admin/accounts/user/{alice.pk}/change/">alice@example.com</a>' in content
    assert "Guardrail tripped" in content
