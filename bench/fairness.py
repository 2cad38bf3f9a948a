"""Fair share at scale: many campaigns at once (1,000 by default) through the real engine against
a localnet endpoint that enforces a request budget (answering 429 past it, as a provider does),
with the platform given the same budget (`SOLANA_LOCALNET_RPC_BUDGETS`). Every campaign asks
for far more than its share, so the run is budget-bound and the spread of the campaigns' trade
rates shows how fairly the budget is shared.

    python -m bench.fairness [--campaigns 1000] [--rps 300] [--seconds 180]

Prints `fairness campaigns=<n> slowest/median=<x> ...`: the slowest campaign's landed trades
over the measured window against the median campaign's, the trades per minute of all of them
against what the budget carries, the worker processes' resident memory at the start, middle
and end of the window, the endpoint's 429 answers, and (stderr) how long the status tick (the
beat job over every live run, run here every 10 s as beat would) took, the Postgres
connections and the Redis keys at the start and end. Throw-away database (`bench_fairness`)
as `bench.run_engine`. Not a timed test.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import signal
import statistics
import sys
import time

from bench.run_engine import (
    PARAMS,
    _campaigns,
    _cpu_breakdown,
    _cpu_seconds,
    _setup_django,
    _spawn,
    _start,
    throwaway_database,
)

# Each campaign asks for about a trade a second (far over its share of the budget); small
# trades and two makers keep the 1,000 campaigns' setup short.
FAIR_PARAMS = {
    **PARAMS,
    "maker_count": 2,
    "maker_funding_sol": "0.5",
    "concurrency_cap": 2,
    "delay_min_seconds": "0.5",
    "delay_max_seconds": "1.5",
}
STATUS_TICK_S = 10.0
SETUP_THREADS = 8


def _rss_mb(processes) -> list[float]:
    import psutil

    return [psutil.Process(p.pid).memory_info().rss / 2**20 for p in processes]


def _landed_per_run(runs: list[int], since, until) -> list[int]:
    """Landed trades of each run (zero included) between `since` and `until`."""
    from django.db.models import Count

    from apps.execution.models import Execution

    counts = dict(
        Execution.objects.filter(
            run_id__in=runs, side__in=["buy", "sell"], status="landed",
            updated_at__gte=since, updated_at__lt=until,
        ).values_list("run").annotate(n=Count("id"))
    )  # fmt: skip
    return [counts.get(run, 0) for run in runs]


def _connections_and_keys() -> tuple[int, int]:
    """Postgres connections to the bench database, keys in the cache's Redis database."""
    from django.db import connection

    from apps.core.budgets import budget_redis

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        (connections,) = cursor.fetchone()
    return connections, budget_redis().dbsize()


def _status_ticks(db_name: str, rpc_url: str, stop, durations) -> None:
    """The beat's status tick over every live run, every STATUS_TICK_S, in a process of its own
    (as beat has a worker run it: in the bench's process it would take the GIL from the
    localnet server); each tick's duration in seconds onto `durations`."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "volumebot.settings.test"
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = db_name
    settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "localnet": [rpc_url]}
    import django

    django.setup()
    from apps.execution.monitor import runs_status_tick

    while not stop.wait(STATUS_TICK_S):
        started = time.monotonic()
        runs_status_tick()
        durations.put(time.monotonic() - started)


class StatusTicks:
    """`_status_ticks` in a spawned process, from `start` to `stop` (which returns the
    durations)."""

    def __init__(self, rpc_url: str):
        from django.db import connection

        context = multiprocessing.get_context("spawn")
        self._stop, self._durations = context.Event(), context.Queue()
        self._process = context.Process(
            target=_status_ticks,
            args=(connection.settings_dict["NAME"], rpc_url, self._stop, self._durations),
        )

    def start(self) -> None:
        self._process.start()

    def stop(self) -> list[float]:
        """Stop after the tick under way (killed if it takes more than a minute more)."""
        self._stop.set()
        if self._process.pid is None:
            return []
        self._process.join(timeout=60)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        durations = []
        while True:
            try:
                durations.append(self._durations.get(timeout=0.1))
            except queue.Empty:
                return durations


def _warm_up(runs: list[int], *, timeout_s: float) -> tuple[float, int]:
    """Wait until every run landed a trade (or the timeout): the seconds it took and how many
    runs had traded by then."""
    from apps.execution.models import Execution

    started = time.monotonic()
    landed = Execution.objects.filter(run_id__in=runs, side__in=["buy", "sell"], status="landed")
    while (warm := landed.values("run").distinct().count()) < len(runs):
        if time.monotonic() - started > timeout_s:
            break
        time.sleep(1)
    return time.monotonic() - started, warm


def measure(
    *,
    campaigns: int,
    rps: float,
    seconds: float,
    workers: int,
    threads: int,
    window_ms: int,
    warm_up_s: float,
) -> dict:
    from django.conf import settings
    from django.utils import timezone

    from apps.localnet import Cluster, Faults, start_server

    faults = Faults(request_budget_per_s=rps)
    server = start_server(cluster=Cluster(), faults=faults)
    budget = f"all={rps:g}"
    os.environ["SOLANA_LOCALNET_RPC_BUDGETS"] = budget  # the workers' settings read it
    settings.SOLANA_RPC_BUDGETS = {**settings.SOLANA_RPC_BUDGETS, "localnet": budget}
    settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "localnet": [server.url]}
    os.environ["BENCH_PLAN_WINDOW_MS"] = str(window_ms)
    processes = _spawn(workers=workers, threads=threads, rpc_url=server.url)
    ticks = StatusTicks(server.url)
    ticks.start()  # as beat: from the start, with the set-up and warm-up
    try:
        started = time.monotonic()
        ids = _campaigns(campaigns, server.cluster, FAIR_PARAMS, threads=SETUP_THREADS)
        runs = _start(ids, threads=SETUP_THREADS)
        setup_s = time.monotonic() - started
        warm_s, warm = _warm_up(runs, timeout_s=max(120.0, campaigns * warm_up_s))
        print(f"  setup {setup_s:.0f}s, warm-up {warm_s:.0f}s ({warm}/{campaigns} campaigns "
              "had traded)", file=sys.stderr, flush=True)  # fmt: skip
        rss = [_rss_mb(processes)]
        conns_keys = [_connections_and_keys()]
        since, served, refused = timezone.now(), faults.requests_served, faults.requests_refused
        cpu_before, started = _cpu_seconds(processes), time.monotonic()
        time.sleep(seconds / 2)
        rss.append(_rss_mb(processes))
        time.sleep(seconds / 2)
        until = timezone.now()
        rss.append(_rss_mb(processes))
        conns_keys.append(_connections_and_keys())
        durations = ticks.stop()
        served, refused = faults.requests_served - served, faults.requests_refused - refused
        counts = _landed_per_run(runs, since, until)
        cpu = _cpu_seconds(processes)
        _cpu_breakdown({part: cpu[part] - cpu_before.get(part, 0.0) for part in cpu},
                       trades=sum(counts), elapsed=time.monotonic() - started)  # fmt: skip
        return {
            "counts": counts, "rss": rss, "conns_keys": conns_keys, "served": served,
            "refused": refused, "ticks": durations,
        }  # fmt: skip
    finally:
        ticks.stop()  # (again: nothing left to stop)
        for process in processes:
            process.send_signal(signal.SIGKILL)
            process.wait()
        server.stop()


def report(figures: dict, *, campaigns: int, rps: float, seconds: float) -> None:
    from django.conf import settings

    counts = figures["counts"]
    median = statistics.median(counts)
    ratio = min(counts) / median if median else 0.0
    carried = rps / settings.EXECUTION_REQUESTS_PER_TRADE * 60
    rss = figures["rss"]
    memory = "/".join(f"{sum(sample):.0f}" for sample in rss)
    print(
        f"fairness campaigns={campaigns} slowest/median={ratio:.2f} "
        f"trades/min={sum(counts) * 60 / seconds:.0f} budget_trades/min={carried:.0f} "
        f"worker_rss_mb={memory} 429s={figures['refused']}",
        flush=True,
    )
    ticks = figures["ticks"]
    (conns_start, keys_start), (conns_end, keys_end) = figures["conns_keys"]
    print(
        f"  per-campaign landed trades: min={min(counts)} median={median:g} max={max(counts)}; "
        f"endpoint served {figures['served'] / seconds:.0f} req/s; status ticks (whole run) "
        f"{'/'.join(f'{t:.1f}' for t in ticks) or '-'} s; postgres connections "
        f"{conns_start}->{conns_end}; redis keys {keys_start}->{keys_end}",
        file=sys.stderr, flush=True,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--rps", type=float, default=300.0)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=8)
    # The deployment's default planner window (settings.EXECUTION_PLAN_WINDOW_MS).
    parser.add_argument("--window-ms", type=int, default=5000)
    # Longest wait, per campaign, for every campaign to have traded before the window starts.
    parser.add_argument("--warm-up-s", type=float, default=0.3)
    args = parser.parse_args(argv)
    os.environ.setdefault("TEST_DATABASE_NAME", "bench_fairness")
    _setup_django()
    from django.db import connections

    with throwaway_database():
        with connections["default"].cursor() as cursor:
            # A throw-away database: commits need not wait for the disk (the set-up alone is
            # tens of thousands of them, on a disk other sessions share).
            name = connections["default"].ops.quote_name(
                connections["default"].settings_dict["NAME"]
            )
            cursor.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
        connections.close_all()
        figures = measure(campaigns=args.campaigns, rps=args.rps, seconds=args.seconds,
                          workers=args.workers, threads=args.threads,
                          window_ms=args.window_ms, warm_up_s=args.warm_up_s)  # fmt: skip
    report(figures, campaigns=args.campaigns, rps=args.rps, seconds=args.seconds)


if __name__ == "__main__":
    main()
