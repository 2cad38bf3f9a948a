"""Jito bundles on the localnet's block engine: all-or-nothing, tips, size, statuses."""

from __future__ import annotations

import base64
import itertools

import pytest
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.transaction import VersionedTransaction

from apps.chain.constants import JITO_TIP_ACCOUNTS, LAMPORTS_PER_SOL
from apps.chain.errors import BundleRejected, PermanentRpcError
from apps.chain.jito import JITO_REGIONS, JitoClient, tip_instruction
from apps.chain.spl import sol_transfer
from apps.localnet import Cluster, create_app
from apps.localnet.cluster import bundle_id_of
from apps.localnet.seed import fund


@pytest.fixture
def jito(app) -> JitoClient:
    return JitoClient(base_url="http://localnet", asgi_app=app)


@pytest.fixture
def wallets(cluster) -> list[Keypair]:
    keypairs = [Keypair() for _ in range(3)]
    for keypair in keypairs:
        fund(cluster, address=keypair.pubkey(), lamports=LAMPORTS_PER_SOL)
    return keypairs


def transfer_tx(
    cluster, payer: Keypair, lamports: int, *, tip: int = 0, to=None
) -> VersionedTransaction:
    blockhash, _ = cluster.latest_blockhash()
    ixs = [
        sol_transfer(source=payer.pubkey(), destination=to or Keypair().pubkey(), lamports=lamports)
    ]
    if tip:
        ixs.append(
            tip_instruction(payer=payer.pubkey(), tip_account=JITO_TIP_ACCOUNTS[0], lamports=tip)
        )
    return VersionedTransaction(MessageV0.try_compile(payer.pubkey(), ixs, [], blockhash), [payer])


def balances(cluster, keys) -> list[int]:
    return [cluster.get_balance(k) for k in keys]


async def test_it_lands_a_bundle_in_order_and_reports_it_by_id(cluster, jito, wallets):
    a, b, c = wallets
    txs = [
        transfer_tx(cluster, a, 1_000_000),
        transfer_tx(cluster, b, 1_000_000),
        transfer_tx(cluster, c, 1_000_000, tip=10_000),
    ]
    tip_before = cluster.get_balance(JITO_TIP_ACCOUNTS[0])

    bundle_id = await jito.send_bundle(txs)

    assert bundle_id == bundle_id_of([tx.signatures[0] for tx in txs])
    (status,) = await jito.get_bundle_statuses([bundle_id])
    assert status.status == "Landed"
    assert status.transactions == tuple(tx.signatures[0] for tx in txs)
    assert cluster.get_balance(JITO_TIP_ACCOUNTS[0]) == tip_before + 10_000
    assert cluster.get_balance(c.pubkey()) == LAMPORTS_PER_SOL - 1_000_000 - 10_000 - 5_000


async def test_a_bundles_transactions_land_in_one_slot_while_the_clock_ticks():
    # Every read of this cluster's clock is a new slot: the bundle's 3 transactions still
    # land in one block, as on mainnet.
    ticks = itertools.count()
    cluster = Cluster(slot_ms=10, clock=lambda: next(ticks) / 100)
    payers = [Keypair() for _ in range(3)]
    for payer in payers:
        fund(cluster, address=payer.pubkey(), lamports=LAMPORTS_PER_SOL)
    txs = [transfer_tx(cluster, p, 1_000_000, tip=1_000 if i == 2 else 0)
           for i, p in enumerate(payers)]  # fmt: skip
    jito = JitoClient(base_url="http://localnet", asgi_app=create_app(cluster))

    bundle_id = await jito.send_bundle(txs)

    slots = {cluster.status(tx.signatures[0]).slot for tx in txs}
    assert len(slots) == 1 and cluster.bundle(bundle_id).landed
    assert cluster.block(slots.pop()) != []


async def test_it_leaves_every_balance_untouched_when_the_third_transaction_fails(
    cluster, jito, wallets
):
    a, b, c = wallets
    targets = [Keypair().pubkey() for _ in range(3)]
    txs = [
        transfer_tx(cluster, a, 1_000_000, to=targets[0]),
        transfer_tx(cluster, b, 1_000_000, to=targets[1]),
        transfer_tx(cluster, c, 2 * LAMPORTS_PER_SOL, tip=10_000, to=targets[2]),  # more than c has
    ]
    watched = [w.pubkey() for w in wallets] + targets + list(JITO_TIP_ACCOUNTS)
    before = balances(cluster, watched)

    bundle_id = await jito.send_bundle(txs)

    assert balances(cluster, watched) == before
    assert await jito.get_bundle_statuses([bundle_id]) == [None]
    (inflight,) = await jito.get_inflight_bundle_statuses([bundle_id])
    assert inflight.status == "Failed"
    assert all(cluster.status(tx.signatures[0]) is None for tx in txs)


async def test_it_rejects_a_bundle_without_a_tip(cluster, jito, wallets):
    before = balances(cluster, [w.pubkey() for w in wallets])

    with pytest.raises(BundleRejected, match="tip"):
        await jito.send_bundle([transfer_tx(cluster, w, 1_000_000) for w in wallets])

    assert balances(cluster, [w.pubkey() for w in wallets]) == before


async def test_it_rejects_a_bundle_of_six_transactions(cluster, app, wallets):
    txs = [transfer_tx(cluster, wallets[i % 3], 1_000_000 + i, tip=10_000) for i in range(6)]
    before = balances(cluster, [w.pubkey() for w in wallets])
    # The client refuses before sending; the block engine refuses too.
    with pytest.raises(BundleRejected):
        await JitoClient(base_url="http://localnet", asgi_app=app).send_bundle(txs)

    unchecked = JitoClient(base_url="http://localnet", asgi_app=app)
    with pytest.raises(BundleRejected, match="1 to 5"):
        await unchecked._rpc(
            "sendBundle",
            [[base64.b64encode(bytes(t)).decode() for t in txs], {"encoding": "base64"}],
        )
    assert balances(cluster, [w.pubkey() for w in wallets]) == before


async def test_it_picks_tip_accounts_only_from_the_known_list(jito):
    assert set(await jito.get_tip_accounts()) == set(JITO_TIP_ACCOUNTS)
    assert await jito.pick_tip_account() in JITO_TIP_ACCOUNTS

    stranger = JitoClient(
        base_url=jito.base_url,
        asgi_app=jito.asgi_app,
        known_tip_accounts=frozenset({Keypair().pubkey()}),
    )
    with pytest.raises(PermanentRpcError, match="no known tip account"):
        await stranger.get_tip_accounts()


async def test_it_sends_the_auth_uuid_and_knows_the_regions(app):
    seen = {}

    async def spy(scope, receive, send):
        seen.update({k.decode(): v.decode() for k, v in scope["headers"]})
        await app(scope, receive, send)

    client = JitoClient(
        base_url="http://localnet", asgi_app=spy, auth_uuid="7f9c2f0e-1d52-4b4e-9d1a-2a3c4b5d6e7f"
    )
    await client.get_tip_accounts()

    assert seen["x-jito-auth"] == "7f9c2f0e-1d52-4b4e-9d1a-2a3c4b5d6e7f"
    assert JitoClient.for_region("frankfurt").base_url == JITO_REGIONS["frankfurt"]
