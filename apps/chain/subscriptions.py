"""Following accounts live over a node's PubSub websocket (solana-py's websocket client).

solana-py's client does not reconnect by itself. `AccountStream` does: it reconnects with
exponential backoff and jitter, subscribes every watched account again, and reads each one
once over JSON-RPC after (re)subscribing, since a subscription only reports later changes.
No update can be used stale: while the socket is down every account reads as unknown, and a
notification more than `max_lag_slots` behind the newest slot the stream has seen is
rejected. Drops, rejections and reconnects are counted (Prometheus and `stats`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from prometheus_client import Counter
from solana.rpc.commitment import Commitment, Confirmed
from solana.rpc.jsonrpc import SolanaJsonRpcError
from solana.rpc.websocket_api import OverflowPolicy, SolanaWsClient
from solders.account import Account
from solders.pubkey import Pubkey
from solders.rpc.responses import (
    AccountNotification,
    RpcSignatureResponse,
    SignatureNotification,
)
from solders.signature import Signature
from solders.transaction_status import TransactionConfirmationStatus
from websockets.exceptions import ConnectionClosed

log = logging.getLogger(__name__)

PUBSUB_RECONNECTS = Counter(
    "volumebot_pubsub_reconnects_total", "PubSub websocket reconnects by stream", ["stream"]
)
PUBSUB_DROPPED = Counter(
    "volumebot_pubsub_dropped_notifications_total",
    "Notifications dropped because the client's queue overflowed, by stream",
    ["stream"],
)
PUBSUB_STALE = Counter(
    "volumebot_pubsub_stale_updates_total",
    "Account updates rejected as older than the freshness bound, by stream",
    ["stream"],
)

Snapshot = Callable[[list[Pubkey]], Awaitable[tuple[int, list[Account | None]]]]


@dataclass(frozen=True)
class AccountUpdate:
    address: Pubkey
    slot: int
    account: Account | None  # None: the account does not exist (closed)


@dataclass
class StreamStats:
    connects: int = 0
    reconnects: int = 0
    dropped: int = 0
    stale: int = 0


@dataclass
class AccountStream:
    """Watches accounts on `ws_url`; `run()` until `stop()`. `on_update` is called with each
    accepted update (from a notification or from the snapshot read after subscribing).

    `snapshot(addresses)` reads the accounts over JSON-RPC: (context slot, accounts)."""

    ws_url: str
    snapshot: Snapshot
    on_update: Callable[[AccountUpdate], Awaitable[None] | None] | None = None
    name: str = "accounts"
    commitment: Commitment = Confirmed
    backoff_min_s: float = 0.1
    backoff_max_s: float = 10.0
    max_lag_slots: int = 150
    queue_size: int = 10_000
    stats: StreamStats = field(default_factory=StreamStats)

    def __post_init__(self):
        self._watched: set[Pubkey] = set()
        self._latest: dict[Pubkey, AccountUpdate] = {}
        self._tip = 0
        self._ws: SolanaWsClient | None = None
        self._by_subscription: dict[int, Pubkey] = {}
        self._stopped = asyncio.Event()
        self.connected = asyncio.Event()
        self._changed = asyncio.Event()

    # -- what is watched -------------------------------------------------------------------

    def watch(self, addresses: Iterable[Pubkey]) -> None:
        """Follow these accounts too (subscribed on the open socket at once, else on connect)."""
        new = set(addresses) - self._watched
        if new:
            self._watched |= new
            self._changed.set()

    def unwatch(self, addresses: Iterable[Pubkey]) -> None:
        gone = set(addresses) & self._watched
        if gone:
            self._watched -= gone
            for address in gone:
                self._latest.pop(address, None)
            self._changed.set()

    def latest(self, address: Pubkey) -> AccountUpdate | None:
        """The account as last seen, or None when it cannot be vouched for: never seen, or the
        socket is down (changes may be missed)."""
        if not self.connected.is_set():
            return None
        return self._latest.get(address)

    # -- the loop --------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopped.set()
        self._changed.set()

    async def run(self) -> None:
        backoff = self.backoff_min_s
        while not self._stopped.is_set():
            try:
                await self._session()
                backoff = self.backoff_min_s
            except Exception as exc:  # any failure of the socket: reconnect after a backoff
                log.warning("%s stream lost its websocket: %s", self.name, exc)
            finally:
                self._disconnected()
            if self._stopped.is_set():
                return
            self.stats.reconnects += 1
            PUBSUB_RECONNECTS.labels(stream=self.name).inc()
            delay = backoff * (0.5 + random.random() / 2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), delay)
            backoff = min(backoff * 2, self.backoff_max_s)

    def _disconnected(self) -> None:
        self.connected.clear()
        if self._ws is not None:
            dropped = self._ws.dropped_notifications
            self.stats.dropped += dropped
            if dropped:
                PUBSUB_DROPPED.labels(stream=self.name).inc(dropped)
        self._ws = None
        self._by_subscription.clear()

    async def _session(self) -> None:
        async with SolanaWsClient(
            self.ws_url, notification_queue_size=self.queue_size,
            overflow=OverflowPolicy.DROP_OLDEST, open_timeout=5,
        ) as ws:  # fmt: skip
            self._ws = ws
            self.stats.connects += 1
            subscribed: dict[Pubkey, object] = {}
            self._changed.set()
            while not self._stopped.is_set():
                if self._changed.is_set():
                    self._changed.clear()
                    await self._sync(ws, subscribed)
                    self.connected.set()
                receive = asyncio.ensure_future(ws.recv())
                changed = asyncio.ensure_future(self._changed.wait())
                done, _ = await asyncio.wait(
                    {receive, changed}, return_when=asyncio.FIRST_COMPLETED
                )
                changed.cancel()
                if receive not in done:
                    receive.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await receive
                    continue
                note = receive.result()
                if isinstance(note, AccountNotification):
                    address = self._by_subscription.get(note.subscription)
                    if address is not None:
                        await self.offer(
                            AccountUpdate(address, note.result.context.slot, note.result.value)
                        )

    async def _sync(self, ws: SolanaWsClient, subscribed: dict[Pubkey, object]) -> None:
        for address in [a for a in subscribed if a not in self._watched]:
            subscription = subscribed.pop(address)
            self._by_subscription.pop(subscription.subscription_id, None)
            await ws.unsubscribe(subscription)
        new = [a for a in self._watched if a not in subscribed]
        for address in new:
            subscription = await ws.account_subscribe(
                pubkey=address, commitment=self.commitment, encoding="base64"
            )
            subscribed[address] = subscription
            self._by_subscription[subscription.subscription_id] = address
        if new:
            # A subscription reports later changes only: read the accounts once now.
            slot, accounts = await self.snapshot(new)
            for address, account in zip(new, accounts, strict=True):
                await self.offer(AccountUpdate(address, slot, account))

    async def offer(self, update: AccountUpdate) -> None:
        """Take an update (a notification or a read) unless it is stale: more than
        `max_lag_slots` behind the newest slot seen, or older than the one already held."""
        self._tip = max(self._tip, update.slot)
        previous = self._latest.get(update.address)
        if self._tip - update.slot > self.max_lag_slots or (
            previous is not None and update.slot < previous.slot
        ):
            self.stats.stale += 1
            PUBSUB_STALE.labels(stream=self.name).inc()
            return
        self._latest[update.address] = update
        if self.on_update is not None:
            result = self.on_update(update)
            if result is not None:
                await result


_LANDED = (TransactionConfirmationStatus.Confirmed, TransactionConfirmationStatus.Finalized)


async def _statuses(rpc, wanted: list[Signature]) -> dict:
    resp = await rpc.call(
        "getSignatureStatuses",
        lambda c: c.get_signature_statuses(wanted, search_transaction_history=True),
    )
    return dict(zip(wanted, resp.value, strict=True))


def rpc_snapshot(rpc) -> Snapshot:
    """A snapshot reader over an `RpcPool` (getMultipleAccounts, 100 accounts a call)."""

    async def read(addresses: list[Pubkey]) -> tuple[int, list[Account | None]]:
        slot, accounts = 0, []
        for start in range(0, len(addresses), 100):
            chunk = addresses[start : start + 100]
            response = await rpc.call(
                "getMultipleAccounts", lambda c, chunk=chunk: c.get_multiple_accounts(chunk)
            )
            slot = max(slot, response.context.slot)
            accounts.extend(response.value)
        return slot, accounts

    return read


def pubsub_url(rpc_url: str) -> str:
    """A node's PubSub websocket for its JSON-RPC URL: same host, ws(s), port + 1 (8899 →
    8900; a URL without a port keeps the scheme's default, as hosted RPC providers serve both
    on one port)."""
    parts = urlsplit(rpc_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    netloc = parts.netloc
    if parts.port is not None:
        netloc = f"{parts.hostname}:{parts.port + 1}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, ""))


async def await_signatures(
    *,
    rpc,
    ws_url: str | None,
    signatures: list[Signature],
    last_valid_block_height: int,
    fallback_poll_s: float = 1.0,
    poll_s: float = 0.05,
    give_up_s: float | None = None,
) -> set[Signature]:
    """Wait until each transaction is confirmed or expired (or `give_up_s` passed: the others
    are left undecided); return the confirmed ones. A missing one is checked again after
    reading the block height, so one landing in between is not missed.

    With a PubSub endpoint the statuses are read once first (one `getSignatureStatuses`): a
    fast node (the localnet answers `sendTransaction` once the transaction has landed) has
    confirmed them already, and a websocket, its handshake and a subscription per signature
    would cost more than that one read. Each signature still pending is then subscribed
    (`signatureSubscribe`, confirmed) and the statuses polled once after subscribing (what
    landed in between) and then every `fallback_poll_s` (what a lost notification or an
    expired blockhash leaves), so the request budget goes to sends. Without an endpoint, or
    when the socket fails, it polls every `poll_s` as before."""
    pending = set(signatures)
    landed: set[Signature] = set()
    deadline = None if give_up_s is None else time.monotonic() + give_up_s

    def left_s(wait_s: float) -> float:
        return wait_s if deadline is None else max(0.0, min(wait_s, deadline - time.monotonic()))

    def over() -> bool:
        return deadline is not None and time.monotonic() >= deadline

    async def poll(*, expiry: bool = True) -> None:
        found = await _statuses(rpc, sorted(pending, key=str))
        missing = [s for s, status in found.items() if status is None]
        expired: set[Signature] = set()
        if missing and expiry:
            height = await rpc.call("getBlockHeight", lambda c: c.get_block_height(Confirmed))
            if height.value > last_valid_block_height:
                found.update(await _statuses(rpc, missing))
                expired = {s for s in missing if found[s] is None}
        now = {s for s, status in found.items() if status is not None
               and status.confirmation_status in _LANDED}  # fmt: skip
        landed.update(now)
        pending.difference_update(now | expired)

    if ws_url is not None:
        # What has landed already needs no subscription (nor the block height: not expired).
        await poll(expiry=False)
        if not pending or over():
            return landed
        try:
            async with SolanaWsClient(ws_url, open_timeout=5) as ws:
                by_subscription = {}
                for signature in sorted(pending, key=str):
                    subscription = await ws.signature_subscribe(
                        signature=signature, commitment=Confirmed
                    )
                    by_subscription[subscription.subscription_id] = signature
                await poll()
                while pending and not over():
                    try:
                        note = await asyncio.wait_for(ws.recv(), left_s(fallback_poll_s))
                    except TimeoutError:
                        if not over():
                            await poll()
                        continue
                    if isinstance(note, SignatureNotification) and isinstance(
                        note.result.value, RpcSignatureResponse
                    ):
                        # Confirmed (failed ones too: the caller reads each transaction).
                        signature = by_subscription.get(note.subscription)
                        if signature in pending:
                            pending.discard(signature)
                            landed.add(signature)
                return landed
        except (OSError, TimeoutError, ConnectionClosed, SolanaJsonRpcError) as exc:
            log.warning("signature subscriptions unavailable, polling: %s", exc)
    while pending:
        await poll()
        if over():
            break
        if pending:
            await asyncio.sleep(left_s(poll_s))
    return landed
