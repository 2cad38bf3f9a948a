"""What one swap costs the localnet on each venue (the real Raydium programs, the pump.fun and
PumpSwap emulations): wall time of a send (preflight simulation + execution, in-process, no
HTTP) and compute units (the transaction's, and the venue instruction's own from its
`consumed` log line). `apps.campaigns.estimate.TRADE_COMPUTE_UNITS` is taken from `tx_cu`.

    python -m bench.swap_cost [--swaps 300]

Prints one line per venue and side:
`swap-cost venue=<name> side=<buy|sell> us=<median> p90_us=<n> tx_cu=<median> venue_cu=<median>`.
Needs no database. Not a timed test: figures depend on the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from solders.compute_budget import set_compute_unit_limit
from solders.message import MessageV0
from solders.transaction import VersionedTransaction

from apps.chain.constants import LAMPORTS_PER_SOL
from apps.chain.dex.base import Side
from apps.chain.dex.registry import get_adapter
from apps.chain.rpc import EndpointConfig, RpcPool
from apps.localnet import Cluster, create_app
from apps.localnet.seed import seed_token
from apps.localnet.seed_pump import seed_pumpswap_pool

RESERVES = (500_000_000_000_000, 200 * LAMPORTS_PER_SOL)
BUY_LAMPORTS = 10_000_000


def _venue_units(logs: list[str], program: str) -> int:
    """The venue instruction's units from its `consumed` log line (0: an emulated venue, which
    logs none; its transaction's units are what the runtime charged)."""
    prefix = f"Program {program} consumed "
    line = next((line for line in logs if line.startswith(prefix)), None)
    return 0 if line is None else int(line[len(prefix) :].split(" of ")[0])


async def _measure(venue: str, swaps: int) -> dict[str, list[tuple[float, int, int]]]:
    cluster = Cluster(slot_ms=0)
    seeded = seed_token(cluster, raydium_reserves=RESERVES, cpmm_reserves=RESERVES)
    pools = {"raydium_amm_v4": seeded.raydium.amm, "raydium_cpmm": seeded.cpmm.pool,
             "pumpfun": seeded.pumpfun.curve}  # fmt: skip
    if venue == "pumpswap":
        pools[venue] = seed_pumpswap_pool(
            cluster, mint=seeded.mint, base_reserve=RESERVES[0], quote_reserve=RESERVES[1],
            coin_creator=seeded.pumpfun.creator,
        ).pool  # fmt: skip
    pool = pools[venue]
    kwargs = {"mint": seeded.mint} if venue == "pumpfun" else {}
    endpoint = EndpointConfig(name="localnet", url="http://localnet/", asgi_app=create_app(cluster))
    rpc = RpcPool(endpoints=[endpoint])
    adapter, trader = get_adapter(venue), seeded.wallets[0]
    samples: dict[str, list[tuple[float, int, int]]] = {"buy": [], "sell": []}
    bought = 0
    for index in range(swaps):
        state = await adapter.load_state(rpc=rpc, address=pool, **kwargs)
        side = Side.BUY if index % 2 == 0 else Side.SELL
        quote = adapter.quote(
            state=state, side=side, amount_in=BUY_LAMPORTS if side == Side.BUY else bought
        )
        build = adapter.build_buy if side == Side.BUY else adapter.build_sell
        instructions = [
            set_compute_unit_limit(300_000),
            *build(state=state, owner=trader.pubkey(), quote=quote, slippage_bps=100),
        ]
        blockhash, _ = cluster.latest_blockhash()
        message = MessageV0.try_compile(trader.pubkey(), instructions, [], blockhash)
        tx = VersionedTransaction(message, [trader])
        started = time.perf_counter()
        cluster.send(tx)
        elapsed_us = (time.perf_counter() - started) * 1e6
        record = cluster.status(tx.signatures[0])
        if record.err is not None:
            raise RuntimeError(f"{venue} {side} failed: {record.err}")
        units = _venue_units(record.logs, str(adapter.program_id))
        samples[side.value].append((elapsed_us, record.compute_units, units))
        bought = quote.amount_out if side == Side.BUY else bought
        cluster.advance_slots(1)
    return samples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=300)
    args = parser.parse_args(argv)
    for venue in ("raydium_amm_v4", "raydium_cpmm", "pumpfun", "pumpswap"):
        for side, rows in asyncio.run(_measure(venue, args.swaps)).items():
            times = sorted(row[0] for row in rows)
            print(
                f"swap-cost venue={venue} side={side} us={statistics.median(times):.0f} "
                f"p90_us={times[int(0.9 * len(times))]:.0f} "
                f"tx_cu={statistics.median(row[1] for row in rows):.0f} "
                f"venue_cu={statistics.median(row[2] for row in rows):.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
