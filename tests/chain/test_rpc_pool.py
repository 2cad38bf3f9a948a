"""The RPC pool: failover, 429 cool-down, timeouts, rate limit, probes, classification, sync use."""

from __future__ import annotations

import json
import threading
import time

import httpx2
import pytest
from solana.rpc.core import RPCException
from solders.commitment_config import CommitmentLevel
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.rpc.config import RpcSendTransactionConfig
from solders.rpc.errors import NodeUnhealthy, NodeUnhealthyMessage
from solders.rpc.requests import GetBalance, SendRawTransaction
from solders.rpc.responses import GetBalanceResp, SendTransactionResp
from solders.transaction import VersionedTransaction
from starlette.responses import PlainTextResponse

from apps.chain.errors import PermanentRpcError, TransactionRejected, TransientRpcError
from apps.chain.rpc import EndpointConfig, RpcPool, TokenBucket, classify, run_sync
from apps.chain.spl import sol_transfer
from apps.localnet import Cluster, Faults, create_app
from apps.localnet.seed import fund


class Calls:
    def __init__(self):
        self.seen: list[tuple[str, str, str]] = []

    def __call__(self, endpoint, method, outcome, seconds):
        assert seconds >= 0
        self.seen.append((endpoint, method, outcome))


@pytest.fixture
def second_faults() -> Faults:
    return Faults()


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def pair(cluster, app, second_faults, calls) -> RpcPool:
    """Two endpoints of the same cluster; `primary` is preferred."""
    second = create_app(cluster, faults=second_faults)
    return RpcPool(
        endpoints=[
            EndpointConfig(
                name="secondary", url="http://b/", priority=1, asgi_app=second, timeout_s=2
            ),
            EndpointConfig(
                name="primary",
                url="http://a/",
                priority=0,
                asgi_app=app,
                timeout_s=2,
                cooldown_s=30,
            ),
        ],
        on_call=calls,
    )


def slot_of(client):
    return client.get_slot()


async def test_it_uses_the_primary_endpoint_first(pair, cluster, calls):
    assert (await pair.call("getSlot", slot_of)).value == cluster.slot
    assert calls.seen == [("primary", "getSlot", "ok")]


async def test_it_fails_over_when_the_primary_is_down_and_cools_it_down(
    pair, cluster, faults, calls
):
    faults.down = True

    first = await pair.call("getSlot", slot_of)
    second = await pair.call("getSlot", slot_of)

    assert first.value == second.value == cluster.slot
    assert calls.seen == [
        ("primary", "getSlot", "transient"),
        ("secondary", "getSlot", "ok"),
        ("secondary", "getSlot", "ok"),  # the primary is cooling down: not tried again
    ]
    health = {h.name: h for h in pair.health()}
    assert not health["primary"].available
    assert health["primary"].cooling_for_s > 25
    assert health["secondary"].available


def dropping(times: int):
    """A getSlot whose first `times` requests go out on a connection the server just closed."""
    tries = []

    async def call(client):
        tries.append(client)
        if len(tries) <= times:
            raise httpx2.RemoteProtocolError("Server disconnected without sending a response.")
        return await client.get_slot()

    call.tries = tries
    return call


async def test_a_dropped_connection_is_tried_once_more_without_cooling_the_endpoint(
    pair, cluster, calls
):
    call = dropping(times=1)

    assert (await pair.call("getSlot", call)).value == cluster.slot
    assert len(call.tries) == 2
    assert calls.seen == [("primary", "getSlot", "ok")]
    assert all(health.available for health in pair.health())


async def test_a_connection_dropped_twice_counts_as_the_endpoint_failing(pair, cluster, calls):
    call = dropping(times=2)

    assert (await pair.call("getSlot", call)).value == cluster.slot
    assert calls.seen == [("primary", "getSlot", "transient"), ("secondary", "getSlot", "ok")]
    health = {h.name: h for h in pair.health()}
    assert not health["primary"].available


async def test_it_fails_over_on_429_and_honours_retry_after(pair, faults, calls):
    faults.rate_limited = True
    faults.retry_after_s = 3

    await pair.call("getSlot", slot_of)

    assert calls.seen == [("primary", "getSlot", "transient"), ("secondary", "getSlot", "ok")]
    health = {h.name: h for h in pair.health()}
    assert 2 < health["primary"].cooling_for_s <= 3


async def test_it_fails_over_when_the_primary_times_out(cluster, calls):
    slow = create_app(cluster, faults=Faults(latency_s=1.0))
    pool = RpcPool(
        endpoints=[
            EndpointConfig(name="slow", url="http://a/", asgi_app=slow, timeout_s=0.05),
            EndpointConfig(name="fast", url="http://b/", priority=1, asgi_app=create_app(cluster)),
        ],
        on_call=calls,
    )

    await pool.call("getSlot", slot_of)

    assert calls.seen == [("slow", "getSlot", "transient"), ("fast", "getSlot", "ok")]


async def test_it_raises_transient_when_every_endpoint_is_down(pair, faults, second_faults):
    faults.down = second_faults.down = True

    with pytest.raises(TransientRpcError):
        await pair.call("getSlot", slot_of)
    with pytest.raises(TransientRpcError, match="no RPC endpoint available"):
        await pair.call("getSlot", slot_of)


async def test_it_raises_permanent_errors_without_failing_over(pair, calls):
    not_a_token_account = Keypair().pubkey()

    with pytest.raises(PermanentRpcError, match="not a Token account"):
        await pair.call(
            "getTokenAccountBalance", lambda c: c.get_token_account_balance(not_a_token_account)
        )

    assert calls.seen == [("primary", "getTokenAccountBalance", "permanent")]


async def test_it_honours_the_endpoint_rate_limit(app):
    pool = RpcPool(
        endpoints=[
            EndpointConfig(name="limited", url="http://a/", asgi_app=app, rate_per_s=20, burst=1)
        ]
    )
    started = time.monotonic()

    for _ in range(11):
        await pool.call("getSlot", slot_of)

    # One request free, then one every 50 ms.
    assert time.monotonic() - started >= 0.45


def test_it_refills_the_token_bucket_at_the_configured_rate():
    now = [0.0]
    bucket = TokenBucket(rate=10, burst=2, clock=lambda: now[0])

    waits = [bucket._reserve() for _ in range(4)]
    now[0] += 1.0
    refilled = bucket._reserve()

    assert waits == [0.0, 0.0, pytest.approx(0.1), pytest.approx(0.2)]
    assert refilled == 0.0


async def test_it_marks_an_endpoint_behind_after_a_probe(app, cluster):
    cluster.advance_slots(100)
    lagging = Cluster(slot_ms=0)
    pool = RpcPool(
        endpoints=[
            EndpointConfig(
                name="lagging", url="http://a/", asgi_app=create_app(lagging), max_slot_lag=50
            ),
            EndpointConfig(name="current", url="http://b/", priority=1, asgi_app=app),
        ]
    )

    health = {h.name: h for h in await pool.probe()}

    assert not health["lagging"].available
    assert health["lagging"].last_error == "behind by 100 slots"
    assert health["current"].available and health["current"].slot == cluster.slot
    assert (await pool.call("getSlot", slot_of)).value == cluster.slot


def test_it_classifies_node_errors():
    behind = RPCException(NodeUnhealthyMessage("Node is behind by 42 slots", NodeUnhealthy(42)))

    assert isinstance(classify(behind, endpoint="x"), TransientRpcError)
    assert isinstance(classify(TimeoutError(), endpoint="x"), TransientRpcError)
    assert classify(KeyError("bug"), endpoint="x") is None


def test_it_offers_a_sync_facade_on_per_thread_loops(app, cluster):
    pool = RpcPool(endpoints=[EndpointConfig(name="localnet", url="http://a/", asgi_app=app)])
    results: list[int] = []

    def worker():
        for _ in range(3):
            results.append(pool.call_sync("getSlot", slot_of).value)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [cluster.slot] * 9
    assert run_sync(pool.call("getSlot", slot_of)).value == cluster.slot


class Recording:
    """An ASGI wrapper that keeps every request body the endpoint receives; `batches=False`
    refuses JSON-RPC batches as some providers' plans do, `reverse=True` answers a batch in
    reverse order (JSON-RPC allows any order)."""

    def __init__(self, app, *, batches: bool = True, reverse: bool = False):
        self.app, self.batches, self.reverse = app, batches, reverse
        self.bodies: list = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        message = await receive()
        body = json.loads(message.get("body", b"") or b"null")
        self.bodies.append(body)
        if isinstance(body, list) and not self.batches:
            return await PlainTextResponse("batch requests are not allowed", 403)(
                scope, receive, send
            )

        sent = []

        async def replay():  # the request once, then what the client says next
            if sent:
                return await receive()
            sent.append(message)
            return message

        if not (isinstance(body, list) and self.reverse):
            return await self.app(scope, replay, send)
        answer: dict = {}

        async def keep(event):
            answer.setdefault("parts", []).append(event)

        await self.app(scope, replay, keep)
        start, *chunks = answer["parts"]
        text = b"".join(chunk.get("body", b"") for chunk in chunks)
        reversed_text = json.dumps(list(reversed(json.loads(text)))).encode()
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(reversed_text)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": reversed_text})


def pool_on(app) -> RpcPool:
    return RpcPool(endpoints=[EndpointConfig(name="localnet", url="http://a/", asgi_app=app)])


def balances_of(*keys):
    return [GetBalance(key) for key in keys]


async def test_a_batch_goes_out_as_one_request_and_answers_in_order(app, cluster):
    funded = [Keypair().pubkey() for _ in range(3)]
    for index, key in enumerate(funded):
        fund(cluster, address=key, lamports=1_000 + index)
    for reverse in (False, True):
        endpoint = Recording(app, reverse=reverse)

        answers = await pool_on(endpoint).call_batch(
            "getBalance", balances_of(*funded), GetBalanceResp
        )

        assert [answer.value for answer in answers] == [1_000, 1_001, 1_002]
        [body] = endpoint.bodies
        assert [request["id"] for request in body] == [0, 1, 2]


async def test_an_answer_with_an_error_stays_in_its_place(app, cluster, payer):
    good = VersionedTransaction(
        MessageV0.try_compile(
            payer.pubkey(), [sol_transfer(source=payer.pubkey(), destination=Keypair().pubkey(),
                                          lamports=1_000_000)], [], cluster.latest_blockhash()[0]
        ),
        [payer],
    )  # fmt: skip
    broke = Keypair()  # holds nothing: its transfer fails the node's preflight
    bad = VersionedTransaction(
        MessageV0.try_compile(
            broke.pubkey(), [sol_transfer(source=broke.pubkey(), destination=payer.pubkey(),
                                          lamports=1)], [], cluster.latest_blockhash()[0]
        ),
        [broke],
    )  # fmt: skip
    config = RpcSendTransactionConfig(preflight_commitment=CommitmentLevel.Confirmed)

    answers = await pool_on(app).call_batch(
        "sendTransaction",
        [SendRawTransaction(bytes(tx), config) for tx in (good, bad)],
        SendTransactionResp,
    )

    assert answers[0].value == good.signatures[0]
    assert isinstance(answers[1], TransactionRejected)


async def test_a_batch_of_one_is_a_plain_request(app, cluster):
    endpoint = Recording(app)

    [answer] = await pool_on(endpoint).call_batch(
        "getBalance", balances_of(Keypair().pubkey()), GetBalanceResp
    )

    assert answer.value == 0
    assert isinstance(endpoint.bodies[0], dict)


async def test_an_endpoint_without_batches_gets_the_requests_one_by_one(app, cluster, calls):
    endpoint = Recording(app, batches=False)
    key = Keypair().pubkey()
    fund(cluster, address=key, lamports=5_000)
    pool = RpcPool(
        endpoints=[EndpointConfig(name="solo", url="http://a/", asgi_app=endpoint)], on_call=calls
    )

    answers = await pool.call_batch("getBalance", balances_of(key, key), GetBalanceResp)

    assert [answer.value for answer in answers] == [5_000, 5_000]
    assert [type(body) for body in endpoint.bodies] == [list, dict, dict]
    assert all(health.available for health in pool.health())  # refusing a batch is no outage
