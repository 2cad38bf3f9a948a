"""Several Jito block engines (regions, UUIDs), each with its own shared budget: the
configuration, and the rotation that sends each bundle to the next engine with budget left."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.transaction import VersionedTransaction

from apps.chain.budget import BudgetPaused
from apps.chain.constants import JITO_TIP_ACCOUNTS, LAMPORTS_PER_SOL
from apps.chain.jito import JitoClient, JitoRotation, tip_instruction
from apps.chain.rpc import run_sync
from apps.chain.spl import sol_transfer
from apps.core.budgets import Limit, RedisBudget, jito_engines
from apps.execution.trading import jito_client
from apps.localnet import Cluster, create_app
from apps.localnet.seed import fund


def shared_budget(limits) -> RedisBudget:
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    return RedisBudget(client=client, key_prefix=cache.make_key("budget:jito-test:"), limits=limits)


def tipped_transfer(cluster: Cluster, payer: Keypair) -> VersionedTransaction:
    """A one-transaction bundle the engine takes: a transfer with its tip."""
    blockhash, _ = cluster.latest_blockhash()
    ixs = [
        sol_transfer(source=payer.pubkey(), destination=Keypair().pubkey(), lamports=1_000_000),
        tip_instruction(payer=payer.pubkey(), tip_account=JITO_TIP_ACCOUNTS[0], lamports=1_000),
    ]
    return VersionedTransaction(MessageV0.try_compile(payer.pubkey(), ixs, [], blockhash), [payer])


def test_engines_come_from_jito_engines_or_one_per_region(settings):
    settings.JITO_ENGINES = ""
    assert [e.name for e in jito_engines()][:3] == ["localnet", "mainnet", "amsterdam"]

    settings.JITO_ENGINES = "ny-a=ny,11111111-aaaa; ny-b = ny , 22222222-bbbb ;fra=frankfurt"
    engines = jito_engines()

    assert [(e.name, e.region, e.auth_uuid) for e in engines] == [
        ("ny-a", "ny", "11111111-aaaa"), ("ny-b", "ny", "22222222-bbbb"), ("fra", "frankfurt", None)
    ]  # fmt: skip
    # A UUID is a credential: never in a representation that could reach a log.
    assert "11111111" not in repr(engines)


@pytest.mark.parametrize(
    "spec",
    ["ny-a=mars", "ny-a=ny;ny-a=ny", "=ny", "ny-a"],
    ids=["region", "twice", "name", "form"],
)
def test_a_malformed_engine_list_is_refused_naming_the_variable(settings, spec):
    settings.JITO_ENGINES = spec
    with pytest.raises(ImproperlyConfigured, match="JITO_ENGINES"):
        jito_engines()


def test_a_campaign_rotates_over_its_regions_engines_with_their_uuids_and_budgets(settings):
    settings.JITO_ENGINES = "loc-a=localnet,uuid-a;loc-b=localnet,uuid-b;ny-a=ny,uuid-c"
    settings.JITO_BUDGETS = "loc-a:bundle=5;loc-b:bundle=1"

    rotation = jito_client(network="localnet", region="ny")

    assert [(c.budget_endpoint, c.auth_uuid) for c in rotation.clients] == [
        ("loc-a", "uuid-a"), ("loc-b", "uuid-b")
    ]  # fmt: skip
    assert all(c.budget is rotation.clients[0].budget is not None for c in rotation.clients)
    assert jito_client(network="localnet", region="ny") is rotation  # one per process


def test_the_rotation_sends_each_engine_no_more_than_its_budget_and_spreads_the_rest():
    cluster = Cluster(slot_ms=0)
    app = create_app(cluster)
    # Refills of one per 1,000 s: whatever the timing, engine a takes 2 bundles and b 1.
    budget = shared_budget(
        {"loc-a": {"bundle": Limit(0.001, 2)}, "loc-b": {"bundle": Limit(0.001, 1)}}
    )
    rotation = JitoRotation(
        clients=[
            JitoClient(base_url="http://localnet", asgi_app=app, auth_uuid=uuid, budget=budget,
                       budget_endpoint=name)
            for name, uuid in (("loc-a", "uuid-a"), ("loc-b", "uuid-b"))
        ]
    )  # fmt: skip
    payers = [Keypair() for _ in range(3)]
    for payer in payers:
        fund(cluster, address=payer.pubkey(), lamports=LAMPORTS_PER_SOL)

    ids = [run_sync(rotation.send_bundle([tipped_transfer(cluster, p)])) for p in payers]

    # In turn: a, b, then a again (b has no budget left); each landed, and each engine saw
    # exactly what its budget allowed, under its own UUID.
    assert [rotation.engine_of(i).budget_endpoint for i in ids] == ["loc-a", "loc-b", "loc-a"]
    assert all(cluster.bundle(i).landed for i in ids)
    assert dict(app.state.bundle_requests_by_auth) == {"uuid-a": 2, "uuid-b": 1}
    # A fourth bundle has no engine with budget left: it would wait for the first refill.
    client, wait_s = rotation._engine_with_budget()
    assert client is None and wait_s > 900
    # Its status is asked of the engine that took it.
    (status,) = run_sync(rotation.get_inflight_bundle_statuses([ids[1]]))
    assert status.status == "Landed"
    assert app.state.bundle_requests_by_auth["uuid-b"] == 2


def test_the_rotation_skips_an_engine_paused_by_a_429_and_stops_when_all_are():
    cluster = Cluster(slot_ms=0)
    app = create_app(cluster)
    budget = shared_budget({"loc-a": {"bundle": Limit(5, 5)}, "loc-b": {"bundle": Limit(5, 5)}})
    rotation = JitoRotation(
        clients=[
            JitoClient(base_url="http://localnet", asgi_app=app, auth_uuid=name, budget=budget,
                       budget_endpoint=name)
            for name in ("loc-a", "loc-b")
        ]
    )  # fmt: skip
    payer = Keypair()
    fund(cluster, address=payer.pubkey(), lamports=LAMPORTS_PER_SOL)
    budget.pause(endpoint="loc-a", seconds=60)

    bundle_id = run_sync(rotation.send_bundle([tipped_transfer(cluster, payer)]))

    assert rotation.engine_of(bundle_id).budget_endpoint == "loc-b"
    budget.pause(endpoint="loc-b", seconds=60)
    with pytest.raises(BudgetPaused):
        run_sync(rotation.send_bundle([tipped_transfer(cluster, payer)]))
    assert dict(app.state.bundle_requests_by_auth) == {"loc-b": 1}
