"""Request budgets: what the chain layer asks before each request and tells after a 429.

RPC providers and Jito sell a request budget per endpoint (Helius: N requests/s and M
`sendTransaction`/s per plan; a Jito block engine: a few requests/s per IP or UUID and region).
The budget is shared by every worker process and pod, so it cannot live in the chain layer's
memory: `RpcPool` and `JitoClient` take a `Budget` (the platform passes one backed by Redis,
`apps.core.budgets`) and call it around each request. With no budget they send freely.

A request is counted in its endpoint's `all` bucket and in the bucket of its method class:
`send` (sendTransaction), `bundle` (sendBundle), `status` (signature and bundle statuses) or
`read` (everything else).
"""

from __future__ import annotations

from typing import Protocol

from apps.chain.errors import TransientRpcError

SEND, BUNDLE, STATUS, READ, ALL = "send", "bundle", "status", "read", "all"
METHOD_CLASSES = (SEND, BUNDLE, STATUS, READ)

_CLASS_OF_METHOD = {
    "sendTransaction": SEND,
    "sendBundle": BUNDLE,
    "getSignatureStatuses": STATUS,
    "getBundleStatuses": STATUS,
    "getInflightBundleStatuses": STATUS,
}


def method_class(method: str) -> str:
    """The budget class of a JSON-RPC method."""
    return _CLASS_OF_METHOD.get(method, READ)


class BudgetPaused(TransientRpcError):
    """The endpoint's provider asked every client to wait (a 429 with Retry-After, seen by
    any worker): nothing was sent. `retry_after_s` says how much longer the pause lasts."""


class Budget(Protocol):
    """A request budget shared by every process that talks to the same endpoints."""

    async def acquire(self, *, endpoint: str, method_class: str, cost: int = 1) -> None:
        """Return once `cost` requests of `method_class` may go to `endpoint` (waiting for the
        budget to refill if needed); raise `BudgetPaused` while the endpoint is paused."""

    def reserve(self, *, endpoint: str, method_class: str, cost: int = 1) -> tuple[bool, float]:
        """One attempt without waiting: (paused, seconds to wait); (False, 0.0) means the
        tokens are taken (a caller choosing between endpoints asks each in turn)."""

    def pause(self, *, endpoint: str, seconds: float) -> None:
        """The endpoint answered 429: no request goes to it from anyone for `seconds`."""
