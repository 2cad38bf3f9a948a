"""Stopping on target and cost per volume, through the real engine (Celery worker processes,
broker, Postgres) on the localnet: campaigns run to their target and complete, then

    target asked_sol=<n> traded_sol=<n> overshoot=<%>          for 1, 10 and 100 makers
    cost venue=<v> mode=<legacy|jito> lamports_per_sol_volume=<n> estimate_error=<%>

`lamports_per_sol_volume` is what the run really cost per SOL of volume (the ledger's fees,
tips and price impact over its volume); `estimate_error` compares it with the estimate the
pre-flight kept for the run (its parts beside the ledger's on stderr). One run per venue the
platform trades (Raydium AMM v4 and CPMM, pump.fun, PumpSwap) and mode. Uses a throw-away
database like `bench.run_engine`.

    python -m bench.target_cost [--makers 1,10,100] [--venues a,b] [--workers <cores>]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import dataclass

from bench.run_engine import _setup_django, _spawn, throwaway_database

VENUES = ("raydium_amm_v4", "raydium_cpmm", "pumpfun", "pumpswap")

SOL = 1_000_000_000
JITO = {"execution_mode": "jito", "jito_tip_min_lamports": 1_000,
        "jito_tip_max_lamports": 5_000, "jito_region": "mainnet"}  # fmt: skip


@dataclass(frozen=True)
class _Seeded:
    mint: object
    decimals: int
    wallets: list
    pools: dict[str, str]


def _seed(cluster) -> _Seeded:
    """One token on every venue the platform trades: Raydium AMM v4 and CPMM pools of 5,000
    SOL, a live pump.fun curve and a PumpSwap pool (the reserves a completed curve moves)."""
    from apps.localnet.seed import seed_token
    from apps.localnet.seed_pump import seed_pumpswap_pool

    reserves = (10**16, 5_000 * SOL)
    seeded = seed_token(cluster, wallets=16, raydium_reserves=reserves, cpmm_reserves=reserves)
    pumpswap = seed_pumpswap_pool(
        cluster, mint=seeded.mint, base_reserve=206_900_000_000_000,
        quote_reserve=84_990_359_056, coin_creator=seeded.pumpfun.creator,
    )  # fmt: skip
    pools = {"raydium_amm_v4": seeded.raydium.amm, "raydium_cpmm": seeded.cpmm.pool,
             "pumpfun": seeded.pumpfun.curve, "pumpswap": pumpswap.pool}  # fmt: skip
    return _Seeded(seeded.mint, seeded.decimals, seeded.wallets,
                   {dex: str(address) for dex, address in pools.items()})  # fmt: skip


def _run_to_target(*, seeded, index: int, dex: str, makers: int, target_sol: str, extra: dict):
    """One campaign of its own user on the seeded token, started and waited for."""
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.campaigns.models import Campaign, CampaignRun
    from apps.campaigns.services import campaign_create, campaign_start
    from apps.execution.lifecycle import run_engine_start
    from apps.tokens.models import Pool, PoolSelection, Token, TokenLink
    from apps.wallets.services import wallet_import

    token = Token.objects.get(mint=str(seeded.mint))
    address = seeded.pools[dex]
    pool, _ = Pool.objects.get_or_create(
        network="localnet", token=token, dex=dex, address=str(address),
        defaults={"quote_mint": "So11111111111111111111111111111111111111112",
                  "fetched_at": timezone.now()},
    )  # fmt: skip
    user = User.objects.create_user(
        f"target{index}@example.com", "bench-password", email_verified_at=timezone.now()
    )
    TokenLink.objects.create(owner=user, token=token)
    PoolSelection.objects.create(owner=user, pool=pool)
    wallet = wallet_import(owner=user, secret_key=str(seeded.wallets[index]), label="Funding")
    params = {
        "maker_count": makers, "maker_funding_sol": "0.1", "trade_size_min_sol": "0.01",
        "trade_size_max_sol": "0.02", "delay_min_seconds": "0", "delay_max_seconds": "0.1",
        "buy_percent": 60, "concurrency_cap": min(makers, 8), "slippage_bps": 500,
        "target_volume_sol": target_sol, **extra,
    }  # fmt: skip
    campaign = campaign_create(
        owner=user, name=f"Target {index}", token_id=token.pk, pool_id=pool.pk,
        funding_wallet_id=wallet.pk, params=params,
    )  # fmt: skip
    campaign_start(campaign_id=campaign.pk, actor=None)
    run = CampaignRun.objects.get(campaign=campaign)
    run_engine_start(run_id=run.pk)
    deadline = time.monotonic() + 600
    while Campaign.objects.get(pk=campaign.pk).status not in ("completed", "failed", "stopped"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"campaign {index} did not complete in 10 minutes")
        time.sleep(0.5)
    run.refresh_from_db()
    return run


def _cost_line(run, *, dex: str, mode: str) -> None:
    """The `cost` line (stdout), and the ledger's parts beside the estimate's (stderr)."""
    volume = max(run.volume_lamports, 1)
    actual = -(-run.spent_lamports * SOL // volume)
    estimated = run.summary.get("estimate_per_sol_volume_lamports") or 0
    error = (actual / estimated - 1) * 100 if estimated else float("nan")
    print(
        f"cost venue={dex} mode={mode} lamports_per_sol_volume={actual} "
        f"estimate={estimated} estimate_error={error:+.1f}%",
        flush=True,
    )
    parts = run.summary.get("estimate_per_sol_volume_parts") or {}
    fees = parts.get("network_fees", 0) + parts.get("priority_fees", 0) + parts.get("setup_fees", 0)
    print(
        f"  per SOL of volume: fees {run.fees_lamports * SOL // volume} (estimate {fees}) "
        f"tips {run.tips_lamports * SOL // volume} (estimate {parts.get('tips')}) "
        f"impact {run.price_impact_lamports * SOL // volume} (estimate "
        f"{parts.get('price_impact')}); trades={run.trades_total} "
        f"volume={run.volume_lamports}",
        file=sys.stderr, flush=True,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--makers", default="1,10,100", help="'' skips the target runs")
    parser.add_argument("--venues", default=",".join(VENUES))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    _setup_django()
    from django.conf import settings

    from apps.localnet import Cluster
    from apps.localnet.server import start_server
    from apps.tokens.models import Token

    with throwaway_database():
        server = start_server(cluster=Cluster())
        settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "localnet": [server.url]}
        processes = _spawn(workers=args.workers, threads=args.threads, rpc_url=server.url)
        try:
            seeded = _seed(server.cluster)
            Token.objects.create(
                network="localnet", mint=str(seeded.mint), program="spl", decimals=seeded.decimals,
                supply_raw=10**16, symbol="BENCH", name="Bench",
            )  # fmt: skip
            index = 0
            for makers in (int(n) for n in args.makers.split(",") if n):
                asked = {1: "0.5", 10: "1"}.get(makers, "2")
                run = _run_to_target(
                    seeded=seeded, index=index, dex="raydium_amm_v4", makers=makers,
                    target_sol=asked, extra={},
                )  # fmt: skip
                index += 1
                traded = run.volume_lamports / SOL
                overshoot = (traded / float(asked) - 1) * 100
                print(
                    f"target makers={makers} asked_sol={asked} traded_sol={traded:.6f} "
                    f"overshoot={overshoot:+.2f}%",
                    flush=True,
                )
            for dex in args.venues.split(","):
                for mode, extra in (("legacy", {}), ("jito", JITO)):
                    run = _run_to_target(
                        seeded=seeded, index=index, dex=dex, makers=4, target_sol="0.5", extra=extra
                    )
                    index += 1
                    _cost_line(run, dex=dex, mode=mode)
        finally:
            for process in processes:
                process.send_signal(signal.SIGKILL)
                process.wait()
            server.stop()


if __name__ == "__main__":
    main()
