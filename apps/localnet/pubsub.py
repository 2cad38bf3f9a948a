"""The localnet's PubSub websocket (a node serves it on the RPC port + 1).

Subscriptions: `accountSubscribe` (any account encoding), `programSubscribe` (filters),
`signatureSubscribe`, `logsSubscribe`, `slotSubscribe`, `rootSubscribe` and their
unsubscribes, answered and notified in a node's JSON shapes. One hub per cluster follows the
slot clock and the cluster's change log: what lands is notified at once for `processed` and
`confirmed` (a single node confirms its own blocks), and once it is 32 slots deep for
`finalized`. An account notification carries the account as it is when it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey
from solders.signature import Signature
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from apps.chain.constants import SYSTEM_PROGRAM_ID
from apps.localnet.app import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    RpcFailure,
    err_json,
    error_envelope,
    filter_matches,
    mint_decimals,
    parse_pubkey,
)
from apps.localnet.cluster import FINALIZED_AFTER_SLOTS, ChangeEvent, Cluster
from apps.localnet.encoding import EncodingError, account_config, encode_account

log = logging.getLogger(__name__)

_COMMITMENTS = ("processed", "confirmed", "finalized")
_MAX_SLOT_BURST = 100  # slot notifications sent at most per tick after a clock jump
_QUEUE_LIMIT = 10_000  # a connection this far behind is closed, as a node drops slow readers

_UNSUBSCRIBE = {
    "accountUnsubscribe": "account",
    "programUnsubscribe": "program",
    "signatureUnsubscribe": "signature",
    "logsUnsubscribe": "logs",
    "slotUnsubscribe": "slot",
    "rootUnsubscribe": "root",
}


@dataclass(eq=False)
class _Subscription:
    id: int
    kind: str
    connection: _Connection
    commitment: str = "finalized"
    address: Pubkey | None = None  # account, program or logs "mentions"
    signature: Signature | None = None
    encode: Callable[[Account], dict] | None = None
    filters: list[dict] = field(default_factory=list)
    received: bool = False


class _Connection:
    def __init__(self, websocket: WebSocket):
        self.websocket = websocket
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.subscriptions: dict[int, _Subscription] = {}

    def push(self, message: dict) -> None:
        if self.queue.qsize() >= _QUEUE_LIMIT:
            self.queue.put_nowait(None)  # the sender closes the socket
            return
        self.queue.put_nowait(json.dumps(message))


def _commitment(config: dict) -> str:
    commitment = config.get("commitment", "finalized")
    if commitment not in _COMMITMENTS:
        raise RpcFailure(INVALID_PARAMS, f"Invalid params: unknown commitment `{commitment}`")
    return commitment


def _closed_account() -> Account:
    # What a node notifies for an account that was closed: empty and owned by System.
    return Account(0, b"", SYSTEM_PROGRAM_ID)


class PubSubHub:
    """Every subscription of one cluster's websocket endpoint, and the loop that notifies
    them (running while anyone is connected)."""

    def __init__(self, cluster: Cluster, *, tick_s: float | None = None):
        self.cluster = cluster
        slot_ms = cluster.slot_ms
        if tick_s is None:
            tick_s = min(slot_ms, 100) / 1000 if slot_ms > 0 else 0.05
        self.tick_s = tick_s
        self._connections: set[_Connection] = set()
        self.connections_served = 0  # websockets accepted so far (what clients opened)
        self._subscriptions: dict[int, _Subscription] = {}
        self._next_id = 0
        self._slot = cluster.slot
        self._cursor = cluster.event_seq
        # Changes waiting to be 32 slots deep for finalized subscriptions.
        self._pending: list[ChangeEvent] = []
        # Landed transactions not yet confirmed (`Cluster.confirm_after_slots`), for the
        # confirmed signature subscriptions.
        self._unconfirmed: list = []
        self._task: asyncio.Task | None = None

    @property
    def subscription_count(self) -> int:
        return len(self._subscriptions)

    # -- connections -----------------------------------------------------------------------

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        connection = _Connection(websocket)
        self._connections.add(connection)
        self.connections_served += 1
        if self._task is None or self._task.done():
            self._slot, self._cursor = self.cluster.slot, self.cluster.event_seq
            self._task = asyncio.create_task(self._run())
        sender = asyncio.create_task(self._send(connection))
        try:
            while True:
                text = await websocket.receive_text()
                connection.push(self._handle(connection, text))
        except WebSocketDisconnect:
            pass
        finally:
            for sub_id in list(connection.subscriptions):
                self._drop(connection, sub_id)
            self._connections.discard(connection)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _send(self, connection: _Connection) -> None:
        while True:
            text = await connection.queue.get()
            if text is None:
                await connection.websocket.close(code=1008)
                return
            await connection.websocket.send_text(text)

    # -- requests --------------------------------------------------------------------------

    def _handle(self, connection: _Connection, text: str) -> dict:
        try:
            request = json.loads(text)
        except ValueError:
            return error_envelope(None, -32700, "Parse error")
        if not isinstance(request, dict) or "method" not in request:
            return error_envelope(None, -32600, "Invalid request")
        request_id = request.get("id")
        params = request.get("params") or []
        method = request["method"]
        try:
            if method in _UNSUBSCRIBE:
                result: Any = self._unsubscribe(connection, _UNSUBSCRIBE[method], params)
            else:
                subscribe = self._subscribers.get(method)
                if subscribe is None:
                    raise RpcFailure(METHOD_NOT_FOUND, "Method not found")
                result = subscribe(self, connection, params)
        except RpcFailure as failure:
            return error_envelope(request_id, failure.code, failure.message)
        except EncodingError as exc:
            return error_envelope(request_id, INVALID_PARAMS, str(exc))
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            return error_envelope(request_id, INVALID_PARAMS, f"Invalid params: {exc}")
        return {"jsonrpc": "2.0", "result": result, "id": request_id}

    def _add(self, connection: _Connection, kind: str, **fields: Any) -> _Subscription:
        self._next_id += 1
        sub = _Subscription(self._next_id, kind, connection, **fields)
        self._subscriptions[sub.id] = sub
        connection.subscriptions[sub.id] = sub
        return sub

    def _drop(self, connection: _Connection, sub_id: int) -> None:
        connection.subscriptions.pop(sub_id, None)
        self._subscriptions.pop(sub_id, None)

    def _unsubscribe(self, connection: _Connection, kind: str, params: list) -> bool:
        sub = connection.subscriptions.get(int(params[0]))
        if sub is None or sub.kind != kind:
            raise RpcFailure(INVALID_PARAMS, "Invalid subscription id.")
        self._drop(connection, sub.id)
        return True

    def _encoder(self, config: dict) -> Callable[[Account], dict]:
        encoding, data_slice = account_config(config)
        return lambda acc: encode_account(
            acc, encoding=encoding, data_slice=data_slice,
            mint_decimals=lambda mint: mint_decimals(self.cluster, mint),
        )  # fmt: skip

    def _account_subscribe(self, connection: _Connection, params: list) -> int:
        config = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        return self._add(
            connection, "account", address=parse_pubkey(params[0]),
            commitment=_commitment(config), encode=self._encoder(config),
        ).id  # fmt: skip

    def _program_subscribe(self, connection: _Connection, params: list) -> int:
        config = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        filters = config.get("filters") or []
        for rule in filters:
            filter_matches(rule, b"")  # refuses an unknown filter now, not at the first change
        return self._add(
            connection, "program", address=parse_pubkey(params[0]), commitment=_commitment(config),
            encode=self._encoder(config), filters=filters,
        ).id  # fmt: skip

    def _signature_subscribe(self, connection: _Connection, params: list) -> int:
        config = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        try:
            signature = Signature.from_string(params[0])
        except ValueError:
            raise RpcFailure(INVALID_PARAMS, "Invalid Request: Invalid signature") from None
        sub = self._add(
            connection, "signature", signature=signature, commitment=_commitment(config),
            received=bool(config.get("enableReceivedNotification")),
        )  # fmt: skip
        # A signature that already landed deep enough is notified at once (then the
        # subscription ends, as every signature subscription does after its notification).
        record = self.cluster.status(signature)
        if record is not None and self._deep_enough(sub.commitment, record.slot, self._slot):
            asyncio.get_running_loop().call_soon(self._notify_signature, sub, record)
        elif record is not None and record not in self._unconfirmed:
            self._unconfirmed.append(record)
        return sub.id

    def _logs_subscribe(self, connection: _Connection, params: list) -> int:
        selector = params[0] if params else "all"
        config = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        address = None
        if isinstance(selector, dict):
            mentions = selector.get("mentions") or []
            if len(mentions) != 1:
                raise RpcFailure(INVALID_PARAMS, "Invalid Request: Only 1 address supported")
            address = parse_pubkey(mentions[0])
        elif selector not in ("all", "allWithVotes"):
            raise RpcFailure(INVALID_PARAMS, f"Invalid params: unknown filter `{selector}`")
        return self._add(connection, "logs", address=address, commitment=_commitment(config)).id

    def _slot_subscribe(self, connection: _Connection, params: list) -> int:
        return self._add(connection, "slot").id

    def _root_subscribe(self, connection: _Connection, params: list) -> int:
        return self._add(connection, "root").id

    _subscribers: dict[str, Callable[[PubSubHub, _Connection, list], int]] = {
        "accountSubscribe": _account_subscribe,
        "programSubscribe": _program_subscribe,
        "signatureSubscribe": _signature_subscribe,
        "logsSubscribe": _logs_subscribe,
        "slotSubscribe": _slot_subscribe,
        "rootSubscribe": _root_subscribe,
    }

    # -- notifications ---------------------------------------------------------------------

    def _deep_enough(self, commitment: str, landed_slot: int, slot: int) -> bool:
        if commitment == "finalized":
            return slot - landed_slot >= FINALIZED_AFTER_SLOTS
        return commitment == "processed" or slot - landed_slot >= self.cluster.confirm_after_slots

    def _notify(self, sub: _Subscription, method: str, result: Any) -> None:
        sub.connection.push(
            {"jsonrpc": "2.0", "method": method, "params": {"result": result,
                                                           "subscription": sub.id}}
        )  # fmt: skip

    def _context(self, slot: int) -> dict:
        return {"slot": slot}

    def _notify_signature(self, sub: _Subscription, record) -> None:
        if sub.id not in self._subscriptions:
            return
        self._notify(sub, "signatureNotification",
                     {"context": self._context(record.slot),
                      "value": {"err": err_json(record.err)}})  # fmt: skip
        self._drop(sub.connection, sub.id)

    async def _run(self) -> None:
        while self._connections:
            try:
                self.tick()
            except Exception:  # one bad tick must not end every subscription
                log.exception("localnet pubsub tick failed")
            await asyncio.sleep(self.tick_s)

    def tick(self) -> None:
        """Notify what changed since the last tick (slots, then landed changes)."""
        slot = self.cluster.slot
        if slot > self._slot:
            for new in range(max(self._slot + 1, slot - _MAX_SLOT_BURST + 1), slot + 1):
                for sub in self._of_kind("slot"):
                    self._notify(sub, "slotNotification",
                                 {"parent": new - 1, "root": max(0, new - FINALIZED_AFTER_SLOTS),
                                  "slot": new})  # fmt: skip
            for sub in self._of_kind("root"):
                self._notify(sub, "rootNotification", max(0, slot - FINALIZED_AFTER_SLOTS))
            self._slot = slot
        events = self.cluster.events_since(self._cursor)
        if events:
            self._cursor = events[-1].seq
            self._pending.extend(events)
            self._dispatch(events, final=False)
        self._confirm(slot)
        due = [e for e in self._pending if slot - e.slot >= FINALIZED_AFTER_SLOTS]
        if due:
            self._pending = [e for e in self._pending if slot - e.slot < FINALIZED_AFTER_SLOTS]
            self._dispatch(due, final=True)
        elif not self._wants_finalized():
            self._pending.clear()

    def _confirm(self, slot: int) -> None:
        """Notify the confirmed signature subscriptions of transactions confirmed by now."""
        due = [r for r in self._unconfirmed if self._deep_enough("confirmed", r.slot, slot)]
        if not due:
            return
        self._unconfirmed = [r for r in self._unconfirmed if r not in due]
        by_signature = {record.signature: record for record in due}
        for sub in self._of_kind("signature", final=False):
            if sub.commitment == "confirmed" and sub.signature in by_signature:
                self._notify_signature(sub, by_signature[sub.signature])

    def _wants_finalized(self) -> bool:
        return any(s.commitment == "finalized" for s in self._subscriptions.values())

    def _of_kind(self, kind: str, *, final: bool | None = None) -> list[_Subscription]:
        return [
            s for s in self._subscriptions.values()
            if s.kind == kind and (final is None or (s.commitment == "finalized") == final)
        ]  # fmt: skip

    def _dispatch(self, events: list[ChangeEvent], *, final: bool) -> None:
        landed = [e for e in events if e.record is not None]
        for sub in self._of_kind("signature", final=final):
            record = next((e.record for e in landed if e.record.signature == sub.signature), None)
            if record is None:
                continue
            if sub.received:
                self._notify(sub, "signatureNotification",
                             {"context": self._context(record.slot),
                              "value": "receivedSignature"})  # fmt: skip
            if final or self._deep_enough(sub.commitment, record.slot, self._slot):
                self._notify_signature(sub, record)
            elif record not in self._unconfirmed:
                self._unconfirmed.append(record)  # notified once confirmed (`_confirm`)
        for sub in self._of_kind("logs", final=final):
            for event in landed:
                keys = event.record.transaction.message.account_keys
                if sub.address is None or sub.address in keys:
                    self._notify(sub, "logsNotification", {
                        "context": self._context(event.slot),
                        "value": {"err": err_json(event.record.err), "logs": event.record.logs,
                                  "signature": str(event.record.signature)},
                    })  # fmt: skip
        touched: dict[Pubkey, int] = {}
        for event in events:
            for key in event.accounts:
                touched[key] = event.slot
        for sub in self._of_kind("account", final=final):
            if sub.address in touched:
                acc = self.cluster.get_account(sub.address) or _closed_account()
                self._notify(sub, "accountNotification",
                             {"context": self._context(touched[sub.address]),
                              "value": sub.encode(acc)})  # fmt: skip
        for sub in self._of_kind("program", final=final):
            for key, slot in touched.items():
                acc = self.cluster.get_account(key)
                if acc is None or acc.owner != sub.address:
                    continue
                data = bytes(acc.data)
                if all(filter_matches(rule, data) for rule in sub.filters):
                    value = {"account": sub.encode(acc), "pubkey": str(key)}
                    self._notify(
                        sub, "programNotification", {"context": self._context(slot), "value": value}
                    )


def create_pubsub_app(cluster: Cluster, *, hub: PubSubHub | None = None) -> Starlette:
    """The websocket endpoint (at `/`) of `cluster`'s PubSub."""
    hub = hub or PubSubHub(cluster)
    app = Starlette(routes=[WebSocketRoute("/", hub.serve)])
    app.state.hub = hub
    return app
