"""10,000 maker wallets in one run, through the real engine (Celery worker processes, broker,
Postgres) on the localnet: one campaign of a user whose admin-set limit allows them starts, the
engine generates and commits every maker's key, funds them (packed funding transactions),
then the campaign is stopped and the gather sells what a maker holds and sweeps every maker
back (packed sweep transactions). Prints

    makers=<n> distribute_s=<s> gather_s=<s> left_lamports=<n>

`distribute_s` runs from the start of the engine's distribute job to the end of its last
funding batch (the keys' generation and encryption included; the workers' start-up not),
`gather_s` from the stop to the campaign ended, `left_lamports` is what every maker holds on
the localnet afterwards (the chain, not the ledger). The parts (keys, transactions, fees) go
to stderr. A throw-away database, like `bench.run_engine`.

    python -m bench.makers [--makers 10000] [--workers <cores>] [--threads 8]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from bench.run_engine import _setup_django, _spawn, seeded_pool, throwaway_database

SOL = 1_000_000_000
FUNDING_SOL = "0.015"
# Trades of 0.01 SOL a minute apart (a maker keeps its reserve beside a trade): the run is
# about the makers, not the trading.
PARAMS = {
    "maker_funding_sol": FUNDING_SOL, "trade_size_min_sol": "0.01",
    "trade_size_max_sol": "0.01", "delay_min_seconds": "60", "delay_max_seconds": "120",
    "buy_percent": 100, "concurrency_cap": 1, "slippage_bps": 500, "target_volume_sol": "1000",
}  # fmt: skip


def _campaign(cluster, makers: int) -> int:
    """A user allowed `makers` makers, with a funding wallet holding what they need."""
    from django.utils import timezone
    from solders.pubkey import Pubkey

    from apps.accounts.models import User
    from apps.campaigns.services import campaign_create
    from apps.tokens.models import PoolSelection, TokenLink
    from apps.wallets.services import wallet_import

    seeded, token, pool = seeded_pool(cluster, wallets=1)
    funding = seeded.wallets[0]
    cluster.airdrop(funding.pubkey(), makers * SOL // 50 + 10 * SOL)
    user = User.objects.create_user(
        "makers@example.com", "bench-password", email_verified_at=timezone.now(),
        max_makers=makers,
    )  # fmt: skip
    TokenLink.objects.create(owner=user, token=token)
    PoolSelection.objects.create(owner=user, pool=pool)
    wallet = wallet_import(owner=user, secret_key=str(funding), label="Funding")
    assert Pubkey.from_string(wallet.address) == funding.pubkey()
    campaign = campaign_create(
        owner=user, name="Makers", token_id=token.pk, pool_id=pool.pk,
        funding_wallet_id=wallet.pk, params={**PARAMS, "maker_count": makers},
    )  # fmt: skip
    return campaign.pk


def _wait(condition, *, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _distributed(run_id: int) -> bool:
    """Every funding batch of the run succeeded (any of them failing ends the wait too)."""
    from apps.campaigns.models import CampaignRun
    from apps.execution.models import Job

    batches = CampaignRun.objects.get(pk=run_id).summary.get("fund_batches")
    if batches is None:
        return False
    jobs = Job.objects.filter(run_id=run_id, type="distribute", step="batch")
    if jobs.filter(status__in=["failed", "dead"]).exists():
        raise RuntimeError("a funding batch failed")
    return jobs.filter(status="succeeded").count() == batches


def _distribute_seconds(run_id: int) -> float:
    """From the distribute job's start (the workers are up by then) to the last funding
    batch's end, by the jobs' own timestamps."""
    from django.db.models import Max

    from apps.execution.models import Job

    jobs = Job.objects.filter(run_id=run_id, type="distribute")
    started = jobs.get(step="main").started_at
    return (jobs.aggregate(end=Max("finished_at"))["end"] - started).total_seconds()


def measure(*, makers: int, workers: int, threads: int) -> tuple[float, float, int]:
    """(distribute_s, gather_s, lamports left in the makers on the chain)."""
    from django.conf import settings
    from solders.pubkey import Pubkey

    from apps.campaigns.models import Campaign, CampaignRun
    from apps.campaigns.services import campaign_start, campaign_stop
    from apps.execution.lifecycle import run_engine_start
    from apps.localnet import Cluster
    from apps.localnet.server import start_server
    from apps.wallets.models import Wallet

    server = start_server(cluster=Cluster())
    settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "localnet": [server.url]}
    processes = _spawn(workers=workers, threads=threads, rpc_url=server.url)
    try:
        campaign_id = _campaign(server.cluster, makers)
        campaign_start(campaign_id=campaign_id, actor=None)
        run = CampaignRun.objects.get(campaign_id=campaign_id)
        run_engine_start(run_id=run.pk)
        _wait(lambda: _distributed(run.pk), what="the distribution", timeout=3600)
        distribute_s = _distribute_seconds(run.pk)
        stopped = time.monotonic()
        campaign_stop(campaign_id=campaign_id, actor=None, reason="Benchmark over.")
        ended = ("stopped", "completed", "failed")
        _wait(
            lambda: Campaign.objects.get(pk=campaign_id).status in ended,
            what="the gather", timeout=3600,
        )  # fmt: skip
        gather_s = time.monotonic() - stopped
        addresses = Wallet.objects.filter(run_id=run.pk, kind="maker").values_list(
            "address", flat=True
        )
        left = sum(server.cluster.get_balance(Pubkey.from_string(a)) for a in addresses)
        _parts(run.pk, campaign_id)
        return distribute_s, gather_s, left
    finally:
        for process in processes:
            process.send_signal(signal.SIGKILL)
            process.wait()
        server.stop()


def _parts(run_id: int, campaign_id: int) -> None:
    """Where the time and the fees went (stderr)."""
    from apps.campaigns.models import Campaign, CampaignRun
    from apps.execution.models import Execution, Job

    run = CampaignRun.objects.get(pk=run_id)
    keys = Job.objects.get(run_id=run_id, type="distribute", step="main")
    sweeps = Job.objects.filter(run_id=run_id, type="funds_gather", step="sweep")
    transfers = Execution.objects.filter(run_id=run_id, side="transfer", status="landed")
    print(
        f"  campaign {Campaign.objects.get(pk=campaign_id).status}: "
        f"keys+packing {(keys.finished_at - keys.started_at).total_seconds():.1f}s, "
        f"fund txs {run.summary.get('fund_batches')}, sweep txs {sweeps.count()}, "
        f"landed transfer txs {transfers.count()}, trades {run.trades_succeeded}, "
        f"funded {run.funded_lamports} gathered {run.gathered_lamports} "
        f"fees {run.fees_lamports} lamports",
        file=sys.stderr, flush=True,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--makers", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    os.environ.setdefault("TEST_DATABASE_NAME", "bench_makers")
    _setup_django()
    with throwaway_database():
        distribute_s, gather_s, left = measure(
            makers=args.makers, workers=args.workers, threads=args.threads
        )
        print(
            f"makers={args.makers} distribute_s={distribute_s:.1f} gather_s={gather_s:.1f} "
            f"left_lamports={left}",
            flush=True,
        )


if __name__ == "__main__":
    main()
