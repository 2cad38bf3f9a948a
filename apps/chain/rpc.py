"""RPC pool: several endpoints with priority, rate limits, timeouts, cool-down and failover.

Usage (async)::

    pool = RpcPool(endpoints=[EndpointConfig(name="main", url="https://…", rate_per_s=20)])
    balance = await pool.call("getBalance", lambda c: c.get_balance(pubkey))

`fn` receives a solana-py `AsyncClient` bound to the endpoint and to the running event loop
(clients are created per loop, since one reused across loops breaks). Transient failures
(timeouts, 429, 5xx, connection errors, node behind) put the endpoint in cool-down and the
call moves on to the next endpoint by priority; permanent ones are raised at once.

Celery workers are sync: `pool.call_sync(...)` (or `run_sync(coro)`) runs the coroutine on an
event loop owned by the calling thread, so clients and their connections are reused.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_args

import httpx2
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Commitment, Confirmed
from solana.rpc.core import RPCException
from solders.errors import SerdeJSONError
from solders.rpc import errors as rpc_errors
from solders.rpc.responses import RPCError

from apps.chain.budget import Budget, BudgetPaused, method_class
from apps.chain.errors import (
    PermanentRpcError,
    RateLimited,
    TransactionRejected,
    TransientRpcError,
)

T = TypeVar("T")

OnCall = Callable[[str, str, str, float], None]
"""Metrics hook: (endpoint name, method, outcome `ok|transient|permanent`, seconds)."""

_TRANSIENT_NODE_ERRORS = (
    rpc_errors.NodeUnhealthyMessage,
    rpc_errors.BlockNotAvailableMessage,
    rpc_errors.SlotSkippedMessage,
    rpc_errors.MinContextSlotNotReachedMessage,
    rpc_errors.BlockStatusNotAvailableYetMessage,
    rpc_errors.InternalErrorMessage,
)


@dataclass(frozen=True)
class EndpointConfig:
    """One RPC endpoint. Lower `priority` is preferred.

    `asgi_app` serves requests in-process (the localnet) instead of over HTTP; `url` is then
    only a label. `rate_per_s`/`burst` bound the request rate (None: unbounded).
    """

    name: str
    url: str
    priority: int = 0
    timeout_s: float = 10.0
    rate_per_s: float | None = None
    burst: int = 1
    cooldown_s: float = 5.0
    max_slot_lag: int = 50
    headers: Mapping[str, str] = field(default_factory=dict)
    asgi_app: Any = None


@dataclass(frozen=True)
class EndpointHealth:
    name: str
    url: str
    available: bool
    slot: int | None
    latency_ms: int | None
    cooling_for_s: float
    last_error: str | None


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; safe across threads and loops."""

    def __init__(self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def _reserve(self) -> float:
        """Take a token; return how long the caller must wait for it to be earned."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self) -> None:
        wait = self._reserve()
        if wait > 0:
            await asyncio.sleep(wait)


class _InProcessTransport(httpx2.ASGITransport):
    """ASGI transport that fails to connect while the localnet endpoint is marked down."""

    def __init__(self, app: Any):
        super().__init__(app=app)
        self._app = app

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        faults = getattr(getattr(self._app, "state", None), "faults", None)
        if faults is not None and faults.down:
            raise httpx2.ConnectError("localnet endpoint is down", request=request)
        return await super().handle_async_request(request)


def in_process_http_client(app: Any, *, timeout_s: float, headers: Mapping[str, str] | None = None):
    """An httpx2 client that talks to an ASGI app without a socket."""
    return httpx2.AsyncClient(
        transport=_InProcessTransport(app),
        timeout=httpx2.Timeout(timeout_s),
        headers=dict(headers or {}),
    )


def make_client(config: EndpointConfig, *, commitment: Commitment) -> AsyncClient:
    """A solana-py client for the endpoint; call inside the event loop that will use it."""
    client = AsyncClient(
        config.url,
        commitment=commitment,
        timeout=config.timeout_s,
        extra_headers=dict(config.headers) or None,
        http2=False,
        max_transport_retries=0,
    )
    if config.asgi_app is not None:
        # solana-py has no transport option; swap its HTTP session for an in-process one.
        client._provider.session = in_process_http_client(
            config.asgi_app, timeout_s=config.timeout_s
        )
    return client


class _Endpoint:
    def __init__(self, config: EndpointConfig, clock: Callable[[], float]):
        self.config = config
        self.bucket = (
            TokenBucket(rate=config.rate_per_s, burst=config.burst, clock=clock)
            if config.rate_per_s
            else None
        )
        self.cooling_until = 0.0
        self.behind = False
        self.slot: int | None = None
        self.latency_ms: int | None = None
        self.last_error: str | None = None


# Errors of a connection that was open when the request went out (kept alive, then closed by
# the server): `RpcPool` tries such a call once more on a new connection before it counts.
_DROPPED_CONNECTION = (httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.WriteError)


def _cause(exc: BaseException) -> BaseException:
    """What failed under a solana-py call: the HTTP error it wraps, or the exception itself."""
    return exc.__cause__ if isinstance(exc, SolanaRpcException) else exc


def classify(
    exc: BaseException, *, endpoint: str | None
) -> PermanentRpcError | TransientRpcError | None:
    """Map an exception from a solana-py call to transient/permanent (None: not an RPC error)."""
    if isinstance(exc, BudgetPaused):
        return exc
    if isinstance(exc, TimeoutError):
        return TransientRpcError("timeout", endpoint=endpoint)
    cause = _cause(exc)
    if isinstance(cause, httpx2.HTTPStatusError):
        status = cause.response.status_code
        if status == 429:
            retry_after = cause.response.headers.get("Retry-After")
            return RateLimited(
                "rate limited (429)",
                endpoint=endpoint,
                retry_after_s=float(retry_after) if retry_after and retry_after.isdigit() else None,
            )
        if status >= 500:
            return TransientRpcError(f"server error {status}", endpoint=endpoint)
        return PermanentRpcError(f"HTTP {status}", endpoint=endpoint, code=status)
    if isinstance(cause, httpx2.HTTPError | OSError):
        return TransientRpcError(f"{type(cause).__name__}: {cause}", endpoint=endpoint)
    if isinstance(exc, RPCException):
        error = exc.args[0] if exc.args else None
        if isinstance(error, rpc_errors.SendTransactionPreflightFailureMessage):
            return TransactionRejected(
                error.message,
                err=error.data.err,
                logs=list(error.data.logs or []),
                endpoint=endpoint,
            )
        if isinstance(error, _TRANSIENT_NODE_ERRORS):
            return TransientRpcError(
                f"node error: {getattr(error, 'message', error)}", endpoint=endpoint
            )
        return PermanentRpcError(f"{getattr(error, 'message', error)}", endpoint=endpoint)
    if isinstance(exc, SolanaRpcException):
        return TransientRpcError(str(exc), endpoint=endpoint)
    return None


class RpcPool:
    """Failover pool over several endpoints; see the module docstring."""

    def __init__(
        self,
        *,
        endpoints: Sequence[EndpointConfig],
        commitment: Commitment = Confirmed,
        on_call: OnCall | None = None,
        clock: Callable[[], float] = time.monotonic,
        budget: Budget | None = None,
    ):
        """`budget`, when given, is asked before every request and told of every 429, so
        every process sharing it keeps within the providers' request budgets."""
        if not endpoints:
            raise ValueError("an RPC pool needs at least one endpoint")
        self.commitment = commitment
        self._on_call = on_call
        self._clock = clock
        self._budget = budget
        self._endpoints = sorted(
            (_Endpoint(c, clock) for c in endpoints), key=lambda e: e.config.priority
        )
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, AsyncClient]
        ] = weakref.WeakKeyDictionary()
        self._clients_lock = threading.Lock()

    @property
    def endpoint_names(self) -> list[str]:
        return [e.config.name for e in self._endpoints]

    @property
    def http_url(self) -> str | None:
        """The preferred endpoint served over HTTP (None when all are in-process)."""
        return next((e.config.url for e in self._endpoints if e.config.asgi_app is None), None)

    def _client(self, endpoint: _Endpoint) -> AsyncClient:
        loop = asyncio.get_running_loop()
        with self._clients_lock:
            clients = self._clients.setdefault(loop, {})
            client = clients.get(endpoint.config.name)
            if client is None:
                client = clients[endpoint.config.name] = make_client(
                    endpoint.config, commitment=self.commitment
                )
            return client

    def _available(self) -> list[_Endpoint]:
        now = self._clock()
        return [e for e in self._endpoints if e.cooling_until <= now and not e.behind]

    def _record(self, endpoint: _Endpoint, method: str, outcome: str, seconds: float) -> None:
        if self._on_call is not None:
            self._on_call(endpoint.config.name, method, outcome, seconds)

    async def call(
        self, method: str, fn: Callable[[AsyncClient], Awaitable[T]], *, cost: int = 1
    ) -> T:
        """Run `fn(client)` on the best available endpoint, failing over on transient errors.

        `cost` is how many requests `fn` makes as the provider counts them (a batch: one per
        item). Raises `PermanentRpcError` (or `TransactionRejected`) at once;
        `TransientRpcError` when every available endpoint failed or none is available.
        """
        candidates = self._available()
        if not candidates:
            raise TransientRpcError("no RPC endpoint available (all cooling down or behind)")
        last: TransientRpcError | None = None
        for endpoint in candidates:
            started = self._clock()
            try:
                result = await self._call_once_more_if_dropped(endpoint, fn, method, cost)
            except Exception as exc:
                classified = classify(exc, endpoint=endpoint.config.name)
                if classified is None:
                    raise
                elapsed = self._clock() - started
                if isinstance(classified, PermanentRpcError):
                    self._record(endpoint, method, "permanent", elapsed)
                    raise classified from exc
                outcome = "paused" if isinstance(classified, BudgetPaused) else "transient"
                self._record(endpoint, method, outcome, elapsed)
                endpoint.last_error = str(classified)
                pause_s = classified.retry_after_s or endpoint.config.cooldown_s
                endpoint.cooling_until = self._clock() + pause_s
                if isinstance(classified, RateLimited) and self._budget is not None:
                    # The provider's budget is spent for everyone who shares it, not only us.
                    self._budget.pause(endpoint=endpoint.config.name, seconds=pause_s)
                last = classified
                continue
            self._record(endpoint, method, "ok", self._clock() - started)
            endpoint.last_error = None
            return result
        assert last is not None
        raise last

    async def _call_once_more_if_dropped(
        self,
        endpoint: _Endpoint,
        fn: Callable[[AsyncClient], Awaitable[T]],
        method: str,
        cost: int,
    ) -> T:
        """`fn` on `endpoint`, tried a second time when the connection dropped under it. A
        server closes idle kept-alive connections, and one may close just as a request goes out
        on it: that says nothing about the endpoint, so it must not cool it down for every
        caller of this process. A repeat is harmless: every call is a read or the send of
        signed bytes (the same signature)."""

        async def once() -> T:
            await self._acquire(endpoint, method, cost)
            return await asyncio.wait_for(fn(self._client(endpoint)), endpoint.config.timeout_s)

        try:
            return await once()
        except Exception as exc:
            if not isinstance(_cause(exc), _DROPPED_CONNECTION):
                raise
        return await once()

    async def _acquire(self, endpoint: _Endpoint, method: str, cost: int) -> None:
        """Wait for this process's rate limit and the shared budget (BudgetPaused if paused)."""
        if endpoint.bucket is not None:
            await endpoint.bucket.acquire()
        if self._budget is not None:
            await self._budget.acquire(
                endpoint=endpoint.config.name, method_class=method_class(method), cost=cost
            )

    async def call_batch(
        self, method: str, bodies: Sequence[Any], parser: type[T]
    ) -> list[T | TransientRpcError | PermanentRpcError]:
        """Many requests of one kind (solders request bodies, e.g. `GetTransaction`) in one
        JSON-RPC batch: one HTTP round trip instead of one each, with `call`'s failover for
        the round trip. Results come back in the order of `bodies`; a request the node answered
        with an error gets that error, classified, in its place (nothing is raised for it)."""
        if not bodies:
            return []
        if len(bodies) == 1:  # a batch of one is a plain request (every node takes those)
            answer = await self.call(method, _poster(bodies[0].to_json()))
            return [_batch_item(answer, parser, method=method)]
        # Numbered by position: a node may answer a batch in any order.
        numbered = [{**json.loads(body.to_json()), "id": i} for i, body in enumerate(bodies)]
        try:
            answers = await self.call(method, _poster(json.dumps(numbered)), cost=len(bodies))
        except PermanentRpcError:
            answers = None  # e.g. a provider plan without batch requests: one by one
        if not isinstance(answers, list):
            singles = await asyncio.gather(
                *(self.call_batch(method, [body], parser) for body in bodies),
                return_exceptions=True,
            )
            return [single[0] if isinstance(single, list) else single for single in singles]
        by_id = {answer.get("id"): answer for answer in answers if isinstance(answer, dict)}
        return [_batch_item(by_id.get(i), parser, method=method) for i in range(len(bodies))]

    def call_sync(self, method: str, fn: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """`call` for sync code (Celery tasks): runs on this thread's own event loop."""
        return run_sync(self.call(method, fn))

    async def probe(self) -> list[EndpointHealth]:
        """Ask every endpoint for its slot; a failure cools it down, a lag marks it behind."""

        async def one(endpoint: _Endpoint) -> None:
            started = self._clock()
            try:
                await self._acquire(endpoint, "getSlot", 1)
                resp = await asyncio.wait_for(
                    self._client(endpoint).get_slot(), endpoint.config.timeout_s
                )
            except Exception as exc:
                classified = classify(exc, endpoint=endpoint.config.name)
                if classified is None:
                    raise
                endpoint.slot = None
                endpoint.last_error = str(classified)
                endpoint.cooling_until = self._clock() + endpoint.config.cooldown_s
                self._record(endpoint, "getSlot", "transient", self._clock() - started)
                return
            endpoint.slot = resp.value
            endpoint.latency_ms = int((self._clock() - started) * 1000)
            endpoint.cooling_until = 0.0
            endpoint.last_error = None
            self._record(endpoint, "getSlot", "ok", self._clock() - started)

        await asyncio.gather(*(one(e) for e in self._endpoints))
        best = max((e.slot for e in self._endpoints if e.slot is not None), default=None)
        for endpoint in self._endpoints:
            endpoint.behind = (
                best is not None
                and endpoint.slot is not None
                and best - endpoint.slot > endpoint.config.max_slot_lag
            )
            if endpoint.behind:
                endpoint.last_error = f"behind by {best - endpoint.slot} slots"
        return self.health()

    def health(self) -> list[EndpointHealth]:
        """Current view of every endpoint (no network)."""
        now = self._clock()
        return [
            EndpointHealth(
                name=e.config.name,
                url=e.config.url,
                available=e.cooling_until <= now and not e.behind,
                slot=e.slot,
                latency_ms=e.latency_ms,
                cooling_for_s=max(0.0, e.cooling_until - now),
                last_error=e.last_error,
            )
            for e in self._endpoints
        ]

    async def aclose(self) -> None:
        """Close the clients of the running loop."""
        with self._clients_lock:
            clients = self._clients.pop(asyncio.get_running_loop(), {})
        for client in clients.values():
            await client.close()


def single(results: Sequence[T | BaseException]) -> T:
    """The one result of a batch of one (`call_batch` and what is built on it), its error
    raised."""
    [result] = results
    if isinstance(result, BaseException):
        raise result
    return result


def _poster(content: str) -> Callable[[AsyncClient], Awaitable[Any]]:
    """A call that posts a JSON-RPC `content` on the client's HTTP session (solana-py has no
    batch call) and returns the decoded answer."""

    async def post(client: AsyncClient) -> Any:
        provider = client._provider
        headers = {"Content-Type": "application/json", **(provider.extra_headers or {})}
        response = await provider.session.post(
            provider.endpoint_uri, content=content, headers=headers
        )
        response.raise_for_status()
        try:
            return json.loads(response.text)
        except ValueError:
            raise httpx2.DecodingError("the answer is not JSON", request=response.request) from None

    return post


def _batch_item(answer: Any, parser: type[T], *, method: str):
    """One answer of a JSON-RPC batch: the parsed result, or its error classified."""
    if not isinstance(answer, dict):
        return TransientRpcError(f"{method}: no answer to the request")
    try:
        parsed = parser.from_json(json.dumps(answer))
    except SerdeJSONError as error:
        return TransientRpcError(f"{method}: an answer that cannot be read ({error})")
    if isinstance(parsed, get_args(RPCError)):
        return classify(RPCException(parsed), endpoint=None)
    return parsed


_thread_state = threading.local()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on an event loop owned by the calling thread.

    The loop lives as long as the thread, so per-loop RPC clients keep their connections.
    Must not be called from inside a running event loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        coro.close()
        raise RuntimeError(
            "run_sync() called from a running event loop; await the coroutine instead"
        )
    loop = getattr(_thread_state, "loop", None)
    if loop is None or loop.is_closed():
        loop = _thread_state.loop = asyncio.new_event_loop()
    return loop.run_until_complete(coro)
