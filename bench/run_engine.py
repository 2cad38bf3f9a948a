"""Run-engine throughput: confirmed trades per minute for 1, 10 and 100 concurrent campaigns on
the localnet, through the real engine (Celery worker processes, broker, Postgres), and the
ratio to the bare send+confirm loop (`bench.baseline`) measured in the same run.

    python -m bench.run_engine [--campaigns 1,10,100] [--seconds 20] [--workers <cores>]

Prints one line per campaign count: `run-engine campaigns=<n> trades/min=<n> ratio=<x>`.
It uses a throw-away database (`bench_run_engine`, created and dropped here) and the test
settings' isolated broker prefix, so it never touches development data. Not a timed test.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

BOOT = """
import os
os.environ["DJANGO_SETTINGS_MODULE"] = "volumebot.settings.test"
from django.conf import settings
settings.DATABASES["default"]["NAME"] = os.environ["BENCH_DB"]
settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "localnet": [os.environ["BENCH_RPC"]]}
settings.EXECUTION_PLAN_WINDOW_MS = int(os.environ.get("BENCH_PLAN_WINDOW_MS", "1000"))
settings.EXECUTION_BUSY_MS = 500
settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
import django
django.setup()
from volumebot.celery import app
app.worker_main(["worker", "--pool=threads", "--concurrency=" + os.environ["BENCH_THREADS"],
                 "-Q", os.environ["BENCH_QUEUES"], "--loglevel=ERROR", "--without-heartbeat",
                 "--without-mingle", "--without-gossip"])
"""

PARAMS = {
    "maker_count": 4,
    "maker_funding_sol": "1",
    "trade_size_min_sol": "0.001",
    "trade_size_max_sol": "0.002",
    "delay_min_seconds": "0",
    "delay_max_seconds": "0.05",
    "buy_percent": 60,
    "concurrency_cap": 4,
    "slippage_bps": 500,
    "target_volume_sol": "100000",
}


def _setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "volumebot.settings.test"
    os.environ["DEBUG"] = "0"  # no query log in memory
    os.environ.setdefault("TEST_DATABASE_NAME", "bench_run_engine")
    import django

    django.setup()


@contextlib.contextmanager
def throwaway_database() -> Iterator[None]:
    """The test settings' database (`TEST_DATABASE_NAME`), created for the block and dropped
    after it, every connection of this process closed first."""
    from django.db import connections
    from django.test.utils import setup_databases, teardown_databases

    databases = setup_databases(verbosity=0, interactive=False)
    try:
        yield
    finally:
        connections.close_all()
        teardown_databases(databases, verbosity=0)


def _in_threads(fn, items: list, threads: int) -> list:
    """`fn(item)` for every item, on `threads` threads (each with its own database connection,
    closed when its share is done); the results in the order of `items`."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def share(part: list) -> list:
        try:
            return [fn(item) for item in part]
        finally:
            connection.close()

    parts = [items[index::threads] for index in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        done = list(pool.map(share, parts))
    results = [None] * len(items)
    for index, part in enumerate(done):
        results[index::threads] = part
    return results


def seeded_pool(cluster, *, wallets: int):
    """A token seeded on the localnet with a deep Raydium AMM v4 pool and `wallets` funded
    wallets, and its Token and Pool rows: (seeded, token, pool)."""
    from django.utils import timezone

    from apps.localnet.seed import seed_token
    from apps.tokens.models import Pool, Token

    seeded = seed_token(cluster, wallets=wallets, raydium_reserves=(10**16, 50_000 * 10**9))
    token = Token.objects.create(
        network="localnet", mint=str(seeded.mint), program="spl", decimals=seeded.decimals,
        supply_raw=10**16, symbol="BENCH", name="Bench",
    )  # fmt: skip
    pool = Pool.objects.create(
        network="localnet", token=token, dex="raydium_amm_v4", address=str(seeded.raydium.amm),
        quote_mint="So11111111111111111111111111111111111111112", fetched_at=timezone.now(),
    )  # fmt: skip
    return seeded, token, pool


def _campaigns(count: int, cluster, params: dict = PARAMS, *, threads: int = 1) -> list[int]:
    """`count` campaigns with `params`, each its own user and funding wallet, on one seeded
    Raydium pool (created on `threads` threads: most of a campaign's set-up is waiting for
    Postgres)."""
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.campaigns.services import campaign_create
    from apps.tokens.models import PoolSelection, TokenLink
    from apps.wallets.services import wallet_import

    seeded, token, pool = seeded_pool(cluster, wallets=count)

    def create(numbered) -> int:
        index, keypair = numbered
        user = User.objects.create_user(
            f"bench{index}@example.com", "bench-password", email_verified_at=timezone.now()
        )
        TokenLink.objects.create(owner=user, token=token)
        PoolSelection.objects.create(owner=user, pool=pool)
        wallet = wallet_import(owner=user, secret_key=str(keypair), label="Funding")
        campaign = campaign_create(
            owner=user, name=f"Bench {index}", token_id=token.pk, pool_id=pool.pk,
            funding_wallet_id=wallet.pk, params=params,
        )  # fmt: skip
        return campaign.pk

    return _in_threads(create, list(enumerate(seeded.wallets)), threads)


def _start(ids: list[int], *, threads: int = 1) -> list[int]:
    """Start the campaigns `ids` and their runs' engine (on `threads` threads); the runs' ids."""
    from apps.campaigns.models import CampaignRun
    from apps.campaigns.services import campaign_start
    from apps.execution.lifecycle import run_engine_start

    def start(campaign_id: int) -> int:
        campaign_start(campaign_id=campaign_id, actor=None)
        run_id = CampaignRun.objects.filter(campaign_id=campaign_id).values_list("pk", flat=True)
        return run_engine_start(run_id=run_id.get()).run_id

    return _in_threads(start, ids, threads)


def _spawn(
    *, workers: int, threads: int, rpc_url: str, confirm_by_subscription: bool = True
) -> list[subprocess.Popen]:
    from django.db import connection

    from volumebot.celery import QUEUES

    env = {
        **os.environ,
        "BENCH_DB": connection.settings_dict["NAME"],
        "BENCH_RPC": rpc_url,
        "BENCH_QUEUES": ",".join(QUEUES),
        "BENCH_THREADS": str(threads),
        "EXECUTION_CONFIRM_BY_SUBSCRIPTION": "1" if confirm_by_subscription else "0",
        # Workers keep their database connections (as a worker deployment should): a fresh
        # connection per task forks a Postgres backend each time, on the same two cores.
        "DB_CONN_MAX_AGE": os.environ.get("DB_CONN_MAX_AGE", "300"),
        # Two INFO lines per task (received, succeeded) are 20,000 JSON lines a minute here.
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
    }
    # A fixed argv: this interpreter and the BOOT script above.
    return [
        subprocess.Popen([sys.executable, "-c", BOOT], env=env)  # noqa: S603
        for _ in range(workers)
    ]


def measure(
    *, campaigns: int, seconds: float, workers: int, threads: int,
    confirm_by_subscription: bool = True, status_calls: list[float] | None = None,
    confirm_after_slots: int = 0,
) -> float:  # fmt: skip
    """Confirmed trades per minute of `campaigns` campaigns running at once (with
    `status_calls`, a list: the status requests per confirmed trade are appended to it) on a
    localnet that confirms `confirm_after_slots` slots after a send."""
    from django.utils import timezone

    from apps.campaigns.services import campaign_stop
    from apps.execution.models import Execution
    from apps.localnet import Cluster
    from apps.localnet.server import start_server

    server = start_server(cluster=Cluster(confirm_after_slots=confirm_after_slots))
    processes = _spawn(workers=workers, threads=threads, rpc_url=server.url,
                       confirm_by_subscription=confirm_by_subscription)  # fmt: skip
    try:
        from django.conf import settings

        settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "localnet": [server.url]}
        ids = _campaigns(campaigns, server.cluster)
        runs = _start(ids)
        trades = Execution.objects.filter(
            run_id__in=runs, side__in=["buy", "sell"], status="landed"
        )
        # Warm up until every campaign traded once, then count over the window.
        deadline = time.monotonic() + 120
        while trades.values("run").distinct().count() < campaigns:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        before, started = trades.count(), time.monotonic()
        window_start, cpu_before = timezone.now(), _cpu_seconds(processes)
        polls_before = _status_requests(server.calls)
        time.sleep(seconds)
        after, elapsed = trades.count(), time.monotonic() - started
        if status_calls is not None:
            status_calls.append(
                (_status_requests(server.calls) - polls_before) / max(after - before, 1)
            )
        cpu = _cpu_seconds(processes)
        _breakdown(runs=runs, since=window_start)
        _cpu_breakdown({part: cpu[part] - cpu_before.get(part, 0.0) for part in cpu},
                       trades=after - before, elapsed=elapsed)  # fmt: skip
        for campaign_id in ids:
            campaign_stop(campaign_id=campaign_id, actor=None, reason="Benchmark over.")
        return (after - before) * 60 / elapsed
    finally:
        for process in processes:
            process.send_signal(signal.SIGKILL)
            process.wait()
        server.stop()


def _status_requests(calls) -> int:
    # What confirming costs in JSON-RPC requests (the websocket's are not requests).
    return calls["getSignatureStatuses"] + calls["getBlockHeight"]


def _cpu_seconds(workers: list[subprocess.Popen]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each part: the worker processes, this
    process (the localnet server and the counting), the PostgreSQL and the Redis servers."""
    import psutil

    def used(process: psutil.Process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    parts = {"workers": 0.0, "localnet": used(psutil.Process())}
    for worker in workers:
        with contextlib.suppress(psutil.Error):
            parts["workers"] += used(psutil.Process(worker.pid))
    for process in psutil.process_iter(["name"]):
        part = {"postgres": "postgres", "redis-server": "redis"}.get(process.info["name"] or "")
        if part is not None:
            with contextlib.suppress(psutil.Error):
                parts[part] = parts.get(part, 0.0) + used(process)
    return parts


def _cpu_breakdown(used: dict[str, float], *, trades: int, elapsed: float) -> None:
    """CPU milliseconds per confirmed trade by part, and how busy the cores were (stderr)."""
    per_trade = " ".join(
        f"{part}={seconds * 1000 / max(trades, 1):.1f}ms" for part, seconds in used.items()
    )
    busy = sum(used.values()) / elapsed / (os.cpu_count() or 1)
    print(f"  cpu per trade: {per_trade} (cores {busy:.0%} busy)", file=sys.stderr, flush=True)


def _breakdown(*, runs: list[int], since) -> None:
    """Where a trade's time goes (stderr): queue wait past its ETA, time in the worker, and
    within it sign-to-confirm."""
    from django.db.models import Avg, DurationField, ExpressionWrapper, F

    from apps.execution.models import Execution, Job

    jobs = Job.objects.filter(
        run_id__in=runs, type__in=["trade_buy", "trade_sell"], status="succeeded",
        started_at__gte=since,
    ).exclude(result__has_key="skipped")  # fmt: skip
    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    wait = ExpressionWrapper(F("started_at") - F("scheduled_for"), output_field=DurationField())
    figures = jobs.aggregate(in_worker=Avg(duration), queue_wait=Avg(wait))
    confirm = Execution.objects.filter(job__in=jobs).aggregate(ms=Avg("latency_ms"))["ms"]

    def ms(value) -> str:
        return "-" if value is None else f"{value.total_seconds() * 1000:.0f}ms"

    print(
        f"  trades={jobs.count()} queue_wait={ms(figures['queue_wait'])} "
        f"in_worker={ms(figures['in_worker'])} send_to_confirm={confirm or 0:.0f}ms",
        file=sys.stderr, flush=True,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", default="1,10,100", help="'' measures confirm-rpc only")
    parser.add_argument(
        "--confirm-after-slots", type=int, default=2,
        help="confirm-rpc's localnet confirms this many slots after a send (a mainnet node: 1-2)",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, default=20.0)
    # One worker process per core (as `make run` starts them): more only add Celery consumers
    # and GIL switching on the same cores (measured: 4 processes on 2 cores cost ~12 % more
    # CPU per trade than 2).
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    _setup_django()
    from apps.localnet import Cluster
    from bench.baseline import measure_transfers

    bare = measure_transfers(cluster=Cluster(), count=500, over_http=True) * 60
    print(f"baseline send+confirm over http trades/min={bare:.0f}", flush=True)
    for count in (int(n) for n in args.campaigns.split(",") if n):
        with throwaway_database():
            rate = measure(
                campaigns=count, seconds=args.seconds, workers=args.workers, threads=args.threads
            )
        print(
            f"run-engine campaigns={count} trades/min={rate:.0f} ratio={rate / bare:.2f}",
            flush=True,
        )
    # Confirmation by signatureSubscribe vs polling, same run of the benchmark, 10 campaigns,
    # on a localnet that answers sends at once and confirms 2 slots (800 ms) later by default,
    # as a mainnet node does (confirmed at once, one poll always finds every trade landed).
    figures = {}
    for mode, by_subscription in (("polling", False), ("subscription", True)):
        with throwaway_database():
            calls: list[float] = []
            measure(campaigns=10, seconds=args.seconds, workers=args.workers,
                    threads=args.threads, confirm_by_subscription=by_subscription,
                    status_calls=calls,
                    confirm_after_slots=args.confirm_after_slots)  # fmt: skip
            figures[mode] = calls[0]
    print(
        f"confirm-rpc confirm_after_slots={args.confirm_after_slots} status_requests/trade "
        f"polling={figures['polling']:.2f} subscription={figures['subscription']:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
