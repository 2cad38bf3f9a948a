"""Adapters by name, and discovery across every venue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from solders.pubkey import Pubkey

from apps.chain.dex.base import DexAdapter, PoolRef
from apps.chain.dex.pumpfun import PumpFun
from apps.chain.dex.pumpswap import PumpSwap
from apps.chain.dex.raydium_amm_v4 import RaydiumAmmV4
from apps.chain.dex.raydium_cpmm import RaydiumCpmm
from apps.chain.errors import DexError

if TYPE_CHECKING:
    from apps.chain.rpc import RpcPool

ADAPTERS: dict[str, DexAdapter] = {
    a.name: a for a in (RaydiumAmmV4(), RaydiumCpmm(), PumpFun(), PumpSwap())
}


def get_adapter(name: str) -> DexAdapter:
    """The adapter for a venue name (`raydium_amm_v4`, `raydium_cpmm`, `pumpfun`, `pumpswap`)."""
    try:
        return ADAPTERS[name]
    except KeyError:
        raise DexError(f"unknown venue {name!r}; known: {', '.join(sorted(ADAPTERS))}") from None


async def find_pools(*, rpc: RpcPool, mint: Pubkey) -> list[PoolRef]:
    """Every SOL pool of `mint` on every venue (a completed pump.fun curve is not a pool)."""
    found: list[PoolRef] = []
    for adapter in ADAPTERS.values():
        found += await adapter.find_pools(rpc=rpc, mint=mint)
    return found
