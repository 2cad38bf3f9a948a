"""Shared request budget: worker processes, each with its own RPC pool and Redis connection,
read as fast as they can through one budget against a localnet that enforces the same budget
and answers 429 past it, as a provider does.

    python -m bench.budget [--rps 50] [--workers 4] [--seconds 10]

Prints `budget endpoint_rps=<n> workers=<k> observed_rps=<n> 429s=<n>`: observed_rps is what
the localnet served per second from the second second on (the steady rate; the bucket's first
burst of a tenth of a second's worth comes on top), 429s how many requests it refused over the
whole run. Not a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import time

CALLERS_PER_WORKER = 4


def _worker(url: str, redis_url: str, prefix: str, rps: float, start_at: float, end_at: float):
    """One worker process: CALLERS_PER_WORKER concurrent callers until `end_at`."""
    import redis

    from apps.chain.rpc import EndpointConfig, RpcPool
    from apps.core.budgets import Limit, RedisBudget

    budget = RedisBudget(
        client=redis.Redis.from_url(redis_url),
        key_prefix=prefix,
        limits={"bench": {"all": Limit(rate_per_s=rps, burst=max(1, int(rps // 10)))}},
    )
    pool = RpcPool(endpoints=[EndpointConfig(name="bench", url=url)], budget=budget)

    async def caller() -> None:
        while time.time() < end_at:
            await pool.call("getSlot", lambda c: c.get_slot())

    async def run() -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        await asyncio.gather(*(caller() for _ in range(CALLERS_PER_WORKER)))
        await pool.aclose()

    asyncio.run(run())


def measure(*, rps: float, workers: int, seconds: float) -> tuple[float, int]:
    """(requests/s the localnet served, 429 answers it gave)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "volumebot.settings.test")
    import django

    django.setup()
    from django.conf import settings

    from apps.localnet import Cluster, Faults, start_server

    faults = Faults(request_budget_per_s=rps)
    server = start_server(cluster=Cluster(), faults=faults)
    redis_url = settings.CACHES["default"]["LOCATION"]
    prefix = f"bench-budget-{secrets.token_hex(4)}:"
    start_at = time.time() + 3  # every process imported and connected before the clock starts
    end_at = start_at + seconds
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker, args=(server.url, redis_url, prefix, rps, start_at, end_at))
        for _ in range(workers)
    ]
    try:
        for process in processes:
            process.start()
        # Counted from a second in: the steady rate, without the bucket's first burst.
        time.sleep(max(0.0, start_at + 1 - time.time()))
        served_before = faults.requests_served
        time.sleep(max(0.0, end_at - time.time()))
        served = faults.requests_served - served_before
        for process in processes:
            process.join(timeout=30)
    finally:
        server.stop()
    return served / (seconds - 1), faults.requests_refused


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rps", type=float, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args(argv)
    observed, refused = measure(rps=args.rps, workers=args.workers, seconds=args.seconds)
    print(
        f"budget endpoint_rps={args.rps:g} workers={args.workers} "
        f"observed_rps={observed:.1f} 429s={refused}",
        flush=True,
    )


if __name__ == "__main__":
    main()
