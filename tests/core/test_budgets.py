"""Shared request budgets: one bucket for every worker, a 429 pauses everyone, configuration."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.transaction import VersionedTransaction

from apps.chain.budget import BudgetPaused, method_class
from apps.chain.constants import LAMPORTS_PER_SOL
from apps.chain.errors import RateLimited
from apps.chain.jito import JitoClient
from apps.chain.rpc import EndpointConfig, RpcPool, run_sync
from apps.chain.spl import sol_transfer
from apps.core.budgets import Limit, RedisBudget, parse_budgets, rpc_budget
from apps.localnet import Cluster, Faults, create_app
from apps.localnet.seed import fund


def worker_budget(limits) -> RedisBudget:
    """What one worker process holds: its own Redis connection, the shared keys."""
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    return RedisBudget(client=client, key_prefix=cache.make_key("budget:test:"), limits=limits)


def test_two_workers_cannot_together_take_more_than_the_bucket_holds():
    # Five tokens and a refill of one per 1,000 s: whatever the timing, five requests pass.
    limits = {"ep": {"all": Limit(rate_per_s=0.001, burst=5)}}
    workers = [worker_budget(limits), worker_budget(limits)]
    granted, refused = [], []
    lock = threading.Lock()

    def work(budget):
        for _ in range(5):
            paused, wait_s = budget.reserve(endpoint="ep", method_class="read")
            with lock:
                (granted if wait_s == 0 else refused).append(wait_s)
            assert not paused

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(granted) == 5
    assert len(refused) == 5
    assert all(wait_s > 900 for wait_s in refused)


def test_a_send_takes_from_its_class_and_from_all_or_from_neither():
    limits = {"ep": {"all": Limit(0.001, 3), "send": Limit(0.001, 1)}}
    budget = worker_budget(limits)

    assert budget.reserve(endpoint="ep", method_class="send") == (False, 0.0)
    paused, wait_s = budget.reserve(endpoint="ep", method_class="send")
    assert not paused and wait_s > 900  # the send class is empty
    # The refused send took nothing from `all`: two reads still pass, the third does not.
    assert budget.reserve(endpoint="ep", method_class="read") == (False, 0.0)
    assert budget.reserve(endpoint="ep", method_class="read") == (False, 0.0)
    assert budget.reserve(endpoint="ep", method_class="read")[1] > 900
    # An endpoint without a budget is never held back.
    assert budget.reserve(endpoint="other", method_class="send") == (False, 0.0)


def test_two_worker_pools_share_one_rate_at_the_endpoint():
    cluster = Cluster(slot_ms=0)
    faults = Faults(request_budget_per_s=20, request_budget_burst=10)
    app = create_app(cluster, faults=faults)
    limits = {"localnet": {"all": Limit(rate_per_s=20, burst=2)}}
    errors = []

    def work():
        pool = RpcPool(
            endpoints=[EndpointConfig(name="localnet", url="http://localnet/", asgi_app=app)],
            budget=worker_budget(limits),
        )
        try:
            for _ in range(10):
                pool.call_sync("getSlot", lambda c: c.get_slot())
        except Exception as error:  # reported below, on the test's thread
            errors.append(error)

    started = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started

    assert errors == []
    assert faults.requests_served == 20
    assert faults.requests_refused == 0
    # 20 requests from a bucket of 2 refilled at 20/s cannot take less than 18/20 s; two
    # buckets (one per worker) would have let them through in half that.
    assert elapsed >= 0.9


def signed_transfer(cluster: Cluster) -> tuple[Keypair, VersionedTransaction]:
    payer = Keypair()
    fund(cluster, address=payer.pubkey(), lamports=LAMPORTS_PER_SOL)
    ix = sol_transfer(source=payer.pubkey(), destination=Keypair().pubkey(), lamports=1_000)
    message = MessageV0.try_compile(payer.pubkey(), [ix], [], cluster.latest_blockhash()[0])
    return payer, VersionedTransaction(message, [payer])


def test_a_429_with_retry_after_pauses_every_workers_sends_on_that_endpoint():
    cluster = Cluster(slot_ms=0)
    faults = Faults(rate_limited=True, retry_after_s=30)
    app = create_app(cluster, faults=faults)
    limits = {"localnet": {"all": Limit(rate_per_s=1_000, burst=100)}}

    def worker_pool() -> RpcPool:
        return RpcPool(
            endpoints=[EndpointConfig(name="localnet", url="http://localnet/", asgi_app=app)],
            budget=worker_budget(limits),
        )

    first, second = worker_pool(), worker_pool()
    payer, tx = signed_transfer(cluster)
    send = ("sendTransaction", lambda c: c.send_raw_transaction(bytes(tx)))

    with pytest.raises(RateLimited):
        first.call_sync(*send)
    faults.rate_limited = False  # the provider would serve again: the pause must hold anyway
    with pytest.raises(BudgetPaused) as paused:
        second.call_sync(*send)

    assert 25 < paused.value.retry_after_s <= 30
    assert faults.requests_served == 0
    assert cluster.get_balance(payer.pubkey()) == LAMPORTS_PER_SOL
    with pytest.raises(BudgetPaused):  # a third worker's reads too: the endpoint is paused
        worker_pool().call_sync("getSlot", lambda c: c.get_slot())
    assert faults.requests_served == 0


def test_the_localnet_answers_429_past_its_request_budget():
    cluster = Cluster(slot_ms=0)
    faults = Faults(request_budget_per_s=0.001, request_budget_burst=3)
    pool = RpcPool(
        endpoints=[
            EndpointConfig(name="l", url="http://l/", asgi_app=create_app(cluster, faults=faults))
        ]
    )

    for _ in range(3):
        run_sync(pool.call("getSlot", lambda c: c.get_slot()))
    with pytest.raises(RateLimited) as error:
        run_sync(pool.call("getSlot", lambda c: c.get_slot()))

    assert error.value.retry_after_s > 900
    assert (faults.requests_served, faults.requests_refused) == (3, 1)


def test_method_classes():
    assert [
        method_class(m)
        for m in ("sendTransaction", "sendBundle", "getSignatureStatuses", "getBundleStatuses")
    ] == ["send", "bundle", "status", "status"]
    assert method_class("getAccountInfo") == "read"


def test_budgets_are_read_per_endpoint_in_url_order_or_by_name():
    assert parse_budgets("all=50,send=5;all=10/4", name="X", endpoints=["a", "b"]) == {
        "a": {"all": Limit(50, 5), "send": Limit(5, 1)},
        "b": {"all": Limit(10, 4)},
    }
    assert parse_budgets("ny:bundle=1", name="X", endpoints=["ny", "tokyo"]) == {
        "ny": {"bundle": Limit(1, 1)}
    }


@pytest.mark.parametrize(
    "spec, message",
    [
        ("all=fast", "is not <class>=<rate>"),
        ("writes=5", "is not <class>=<rate>"),
        ("all=5,all=6", "is not <class>=<rate>"),
        ("all=0", "is not <class>=<rate>"),
        ("all=5/0", "is not <class>=<rate>"),
        ("all=5;all=5", "more groups than endpoints"),
        ("tokyo:all=5", "unknown endpoint 'tokyo'"),
    ],
)
def test_a_malformed_budget_is_refused_with_its_variable_named(spec, message):
    with pytest.raises(ImproperlyConfigured, match=message) as error:
        parse_budgets(spec, name="SOLANA_MAINNET_RPC_BUDGETS", endpoints=["a"])
    assert str(error.value).startswith("SOLANA_MAINNET_RPC_BUDGETS: ")


def test_a_network_without_budgets_gets_none_and_one_with_gets_its_limits(settings):
    settings.SOLANA_RPC_BUDGETS = {"localnet": "", "mainnet-beta": "all=50,send=5"}

    assert rpc_budget(network="localnet", endpoints=["localnet-0"]) is None
    budget = rpc_budget(network="mainnet-beta", endpoints=["mainnet-beta-0"])
    assert budget.reserve(endpoint="mainnet-beta-0", method_class="send") == (False, 0.0)


def test_a_block_engine_429_pauses_every_workers_bundles_in_that_region():
    cluster = Cluster(slot_ms=0)
    faults = Faults(rate_limited=True, retry_after_s=20)
    app = create_app(cluster, faults=faults)
    limits = {"ny": {"bundle": Limit(rate_per_s=1, burst=1)}}

    def worker_client() -> JitoClient:
        return JitoClient(
            base_url="http://localnet",
            asgi_app=app,
            budget=worker_budget(limits),
            budget_endpoint="ny",
        )

    payer, tx = signed_transfer(cluster)
    with pytest.raises(RateLimited):
        run_sync(worker_client().send_bundle([tx]))
    faults.rate_limited = False
    with pytest.raises(BudgetPaused) as paused:
        run_sync(worker_client().send_bundle([tx]))

    assert 15 < paused.value.retry_after_s <= 20
    assert faults.requests_served == 0
    assert cluster.get_balance(payer.pubkey()) == LAMPORTS_PER_SOL
