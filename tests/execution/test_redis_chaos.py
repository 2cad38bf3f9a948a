"""Chaos: Redis (the broker, the cache and the channel layer) is killed in the middle of a
campaign's run and started again, empty. The API answers what needs Redis with its JSON 503
during the outage and nothing is a 500 after; the engine, whose jobs are Postgres rows, picks
up again once beat re-drives the jobs whose messages died with Redis, and the run completes
with no trade landed twice and every maker swept to 0 lamports.

The worker is a real `celery worker` process on the test's own redis-server; the test plays
beat by calling `jobs_redrive_stuck`, as in test_crash_safety."""

import signal
import time

import pytest
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient
from solders.pubkey import Pubkey
from solders.signature import Signature

from apps.campaigns.models import Campaign
from apps.execution.models import Execution, Job, LedgerEntry
from apps.execution.monitor import jobs_redrive_stuck
from apps.wallets.models import Wallet
from tests.support.engine import wait_for
from tests.support.web import bearer
from tests.workers import worker_process

pytestmark = pytest.mark.django_db(transaction=True)

OUTAGE = {
    "code": "service_unavailable",
    "message": "This needs a service that is not answering right now; try again shortly.",
    "fields": {},
}


def test_a_run_goes_through_redis_killed_and_restarted_and_completes_once(
    setup, chain, private_redis, alice
):
    campaign = setup.campaign(target_volume_sol="0.6")
    funding_before = setup.lamports(setup.wallet.address)
    api = APIClient()
    api.credentials(**bearer(alice))
    urls = api_urls(campaign.pk)
    worker = worker_process(chain.url, redis_url=private_redis.url)
    restarts = 0
    try:
        run = setup.start(campaign)
        # Generous: the worker process may take a minute to boot on a loaded machine.
        wait_for(lambda: trades(run).filter(status="landed").exists(), timeout=300,
                 what="the first trade to land")  # fmt: skip

        private_redis.stop()
        during = {url: api.get(url) for url in urls}
        ticket = api.post(f"/v1/campaigns/{campaign.pk}/ws-ticket")
        # The engine cannot be handed work: due jobs wait in Postgres (their messages are lost).
        wait_for(lambda: overdue(run), timeout=60, what="a due job left queued by the outage")
        private_redis.start()

        deadline = time.monotonic() + 600  # generous: a loaded machine, a worker rebooting
        while Campaign.objects.get(pk=campaign.pk).status not in ("completed", "failed"):
            assert time.monotonic() < deadline, live_jobs(run)
            if worker.poll() is not None:
                # kombu's Redis transport can crash the worker on a lost connection (when it
                # restores unacked messages on close); the deployment's supervisor (compose's
                # `restart:`, Kubernetes, `make run`) starts it again, and so does the test.
                worker = worker_process(chain.url, redis_url=private_redis.url)
                restarts += 1
            jobs_redrive_stuck(older_than_s=1.5)  # what beat does every few seconds
            time.sleep(0.5)
        after = {url: api.get(url) for url in urls}
        ticket_after = api.post(f"/v1/campaigns/{campaign.pk}/ws-ticket")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()

    # During the outage: reads from Postgres answered, what needs Redis a JSON 503.
    for url, response in during.items():
        assert response.status_code == 200, (url, response.status_code)
    assert (ticket.status_code, ticket.json()) == (503, {"error": OUTAGE})
    assert ticket["Retry-After"] == "10"
    # After: no 500 anywhere, and the ticket is minted again.
    for url, response in after.items():
        assert response.status_code == 200, (url, response.status_code)
    assert ticket_after.status_code == 200, ticket_after.content

    campaign.refresh_from_db()
    run.refresh_from_db()
    assert campaign.status == "completed", (campaign.status_reason, live_jobs(run), restarts)
    assert not Job.objects.filter(run=run, status__in=Job.LIVE).exists()
    assert run.volume_lamports >= 600_000_000 and run.trades_failed == 0
    assert_no_trade_twice(setup, run)
    # Every maker swept: 0 lamports on chain and in the ledger, no token account left.
    makers = list(Wallet.objects.filter(run_id=run.pk, kind="maker"))
    assert len(makers) == 3
    for maker in makers:
        assert setup.lamports(maker.address) == 0 == ledger(run, maker)
        assert setup.token_accounts(maker.address) == []
    funding_after = setup.lamports(setup.wallet.address)
    assert funding_after - funding_before == ledger(run, setup.wallet)


def api_urls(campaign_id: int) -> list[str]:
    base = f"/v1/campaigns/{campaign_id}"
    return ["/v1/me", "/v1/campaigns", base, f"{base}/status", f"{base}/logs"]


def live_jobs(run) -> list[dict]:
    unfinished = Job.objects.filter(run=run).exclude(status__in=["succeeded", "cancelled"])
    return list(unfinished.values("idempotency_key", "status", "error"))


def trades(run):
    return Execution.objects.filter(run=run, job__type__in=Job.TRADE_TYPES)


def overdue(run) -> bool:
    """A job due by now and still queued: its message is not in any worker's hands."""
    now = timezone.now()
    return Job.objects.filter(run=run, status=Job.Status.QUEUED, scheduled_for__lt=now).exists()


def ledger(run, wallet) -> int:
    total = LedgerEntry.objects.filter(run=run, wallet=wallet).aggregate(t=Sum("lamports_delta"))
    return total["t"] or 0


def assert_no_trade_twice(setup, run) -> None:
    """One landed transaction per job in the database, each landed on chain once, and no
    transaction on chain naming a maker that the engine does not know of (a second landing of
    a trade it re-sent under a new signature would be one)."""
    landed = Execution.objects.filter(run=run, slot__isnull=False)
    assert landed.values("job").distinct().count() == landed.count()
    signatures = set(landed.values_list("signature", flat=True))
    for signature in signatures:
        record = setup.cluster.status(Signature.from_string(signature))
        assert record is not None and record.err is None, signature
    for maker in Wallet.objects.filter(run_id=run.pk, kind="maker"):
        on_chain = {
            str(record.signature)
            for record in setup.cluster.signatures_for(Pubkey.from_string(maker.address))
            if record.err is None
        }
        assert on_chain <= signatures, on_chain - signatures
