"""Exceptions of the chain layer.

Every outbound failure is either transient (retry later or elsewhere: timeouts, 429, 5xx,
node behind, all endpoints cooling down) or permanent (retrying the same request cannot
help: the node rejected the transaction, bad params, a pool that no longer trades).
"""

from __future__ import annotations

from typing import Any


class ChainError(Exception):
    """Base class of every error raised by `apps.chain`."""


class TransientRpcError(ChainError):
    """The request may succeed if retried later or against another endpoint."""

    def __init__(
        self, message: str, *, endpoint: str | None = None, retry_after_s: float | None = None
    ):
        super().__init__(message)
        self.endpoint = endpoint
        self.retry_after_s = retry_after_s


class RateLimited(TransientRpcError):
    """The endpoint answered 429: its request budget is spent for `retry_after_s` (if given)."""


class PermanentRpcError(ChainError):
    """The node answered and retrying the same request will not change the answer."""

    def __init__(self, message: str, *, endpoint: str | None = None, code: int | None = None):
        super().__init__(message)
        self.endpoint = endpoint
        self.code = code


class TransactionRejected(PermanentRpcError):
    """Preflight (or our own simulation) says the transaction fails; nothing was sent.

    `err` is the solders TransactionError, `logs` the simulation logs.
    """

    def __init__(
        self,
        message: str,
        *,
        err: Any = None,
        logs: list[str] | None = None,
        endpoint: str | None = None,
        code: int | None = -32002,
    ):
        super().__init__(message, endpoint=endpoint, code=code)
        self.err = err
        self.logs = list(logs or [])


class BundleRejected(PermanentRpcError):
    """The block engine refused a bundle (size, tip, encoding, signatures)."""


class DexError(ChainError):
    """A venue cannot serve the request (no pool, bad state, unsupported direction)."""


class PoolNotFound(DexError):
    """No pool of this venue exists for the mint."""


class VenueMigrated(DexError):
    """The pump.fun curve is complete: the token migrated, this venue no longer applies."""
