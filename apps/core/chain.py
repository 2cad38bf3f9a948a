"""The platform's door to the chain layer: one RPC pool per network, built from settings, and
a sync way to run chain coroutines from views and tasks."""

import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from django.conf import settings
from prometheus_client import Counter, Histogram
from solders.pubkey import Pubkey

from apps.chain.errors import TransientRpcError
from apps.chain.rpc import EndpointConfig, RpcPool, run_sync
from apps.core.budgets import rpc_budget
from apps.core.errors import DomainError, ValidationFailed

T = TypeVar("T")

RPC_CALLS = Counter(
    "volumebot_rpc_calls_total", "RPC calls by endpoint, method and outcome",
    ["endpoint", "method", "outcome"],
)  # fmt: skip
RPC_SECONDS = Histogram(
    "volumebot_rpc_call_seconds", "RPC call latency by endpoint and method", ["endpoint", "method"]
)


def _record_rpc_call(endpoint: str, method: str, outcome: str, seconds: float) -> None:
    RPC_CALLS.labels(endpoint=endpoint, method=method, outcome=outcome).inc()
    RPC_SECONDS.labels(endpoint=endpoint, method=method).observe(seconds)


_pools: dict[tuple[str, tuple[str, ...]], RpcPool] = {}
_pools_lock = threading.Lock()


class ChainUnavailable(DomainError):
    """Every RPC endpoint of the network failed or is cooling down; trying later may work."""

    status_code = 503
    code = "chain_unavailable"


def parse_address(value: str, *, field: str) -> Pubkey:
    """A base58 Solana address, or a ValidationFailed naming the field."""
    try:
        return Pubkey.from_string((value or "").strip())
    except ValueError as error:
        message = "Enter a valid base58 address (32 bytes)."
        raise ValidationFailed(message, fields={field: [message]}) from error


def endpoint_names(network: str) -> list[str]:
    """The names of `network`'s endpoints, in the order of SOLANA_RPC_URLS: `<network>-<i>`
    (what budgets, metrics and the control room call them; a URL may hold a key)."""
    urls = settings.SOLANA_RPC_URLS.get(network) or ()
    return [f"{network}-{index}" for index in range(len(urls))]


def rpc_pool(network: str) -> RpcPool:
    """The process-wide pool for `network` (endpoints from SOLANA_RPC_URLS, first preferred)."""
    urls = tuple(settings.SOLANA_RPC_URLS.get(network) or ())
    if not urls:
        raise DomainError(
            f"No RPC endpoint is configured for {network}.", code="network_unavailable"
        )
    key = (network, urls)
    # Locked: two threads must not build two pools (and two sets of rate limits) for one network.
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            endpoints = [
                EndpointConfig(name=name, url=url, priority=index)
                for index, (name, url) in enumerate(zip(endpoint_names(network), urls, strict=True))
            ]
            budget = rpc_budget(network=network, endpoints=[e.name for e in endpoints])
            pool = _pools[key] = RpcPool(
                endpoints=endpoints, on_call=_record_rpc_call, budget=budget
            )
        return pool


def chain_run(network: str, fn: Callable[[RpcPool], Awaitable[T]]) -> T:
    """Run `fn(pool)` to completion from sync code (views, tasks)."""
    try:
        return run_sync(fn(rpc_pool(network)))
    except TransientRpcError as error:
        raise ChainUnavailable(
            f"The {network} RPC endpoints are not answering right now; try again in a moment."
        ) from error
