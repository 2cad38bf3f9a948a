"""The chain layer's subscription client against the localnet's PubSub websocket: updates,
the websocket killed and restarted mid-run (reconnect, resubscribe, no stale account used),
and the freshness bound."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from solders.account import Account
from solders.keypair import Keypair

from apps.chain.constants import LAMPORTS_PER_SOL, SYSTEM_PROGRAM_ID
from apps.chain.rpc import EndpointConfig, RpcPool
from apps.chain.spl import sol_transfer
from apps.chain.subscriptions import (
    AccountStream,
    AccountUpdate,
    await_signatures,
    rpc_snapshot,
)
from apps.chain.tx import FixedFee, build_transaction, send_and_confirm, send_transaction
from apps.localnet import Cluster, start_server
from apps.localnet.seed import fund

WAIT_S = 10


@pytest.fixture
def server():
    running = start_server(cluster=Cluster(slot_ms=20))
    yield running
    running.stop()


async def _until(condition, what: str):
    for _ in range(int(WAIT_S / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def test_the_stream_survives_the_websocket_restarting(server):
    rpc = RpcPool(endpoints=[EndpointConfig(name="http", url=server.url)])
    payer, watched = Keypair(), Keypair().pubkey()
    fund(server.cluster, address=payer.pubkey(), lamports=LAMPORTS_PER_SOL)
    fund(server.cluster, address=watched, lamports=5_000_000)
    seen: list[AccountUpdate] = []
    stream = AccountStream(
        ws_url=server.ws_url,
        snapshot=rpc_snapshot(rpc),
        on_update=seen.append,
        name="test",
        backoff_min_s=0.05,
        backoff_max_s=0.2,
    )
    stream.watch([watched])
    task = asyncio.create_task(stream.run())
    try:
        await asyncio.wait_for(stream.connected.wait(), WAIT_S)
        assert stream.latest(watched).account.lamports == 5_000_000  # the snapshot read

        built = await build_transaction(
            rpc=rpc,
            payer=payer,
            fee_policy=FixedFee(0),
            instructions=[
                sol_transfer(source=payer.pubkey(), destination=watched, lamports=1_000_000)
            ],
        )
        await send_and_confirm(rpc=rpc, built=built, poll_interval_s=0.02)
        await _until(lambda: stream.latest(watched).account.lamports == 6_000_000, "the transfer")

        server.stop_pubsub()
        await _until(lambda: not stream.connected.is_set(), "the stream to notice")
        assert stream.latest(watched) is None  # nothing is vouched for while down
        fund(server.cluster, address=watched, lamports=9_000_000)  # missed by the socket
        server.start_pubsub()
        await asyncio.wait_for(stream.connected.wait(), WAIT_S)
        # Resubscribed and read again: the change made while down is there, not the old value.
        assert stream.latest(watched).account.lamports == 9_000_000
        assert server.hub.subscription_count == 1
        fund(server.cluster, address=watched, lamports=7_000_000)
        await _until(lambda: stream.latest(watched).account.lamports == 7_000_000, "a change")
        assert stream.stats.reconnects >= 1 and stream.stats.connects == 2
        assert [u.account.lamports for u in seen][-3:] == [6_000_000, 9_000_000, 7_000_000]

        stream.unwatch([watched])
        await _until(lambda: server.hub.subscription_count == 0, "the unsubscribe")
    finally:
        stream.stop()
        await asyncio.wait_for(task, WAIT_S)
        await rpc.aclose()


async def test_updates_behind_the_freshness_bound_are_rejected():
    async def no_snapshot(addresses):
        raise AssertionError("not read in this test")

    stream = AccountStream(ws_url="ws://unused", snapshot=no_snapshot, max_lag_slots=10)
    address = Keypair().pubkey()
    account = Account(1, b"", SYSTEM_PROGRAM_ID)
    stream.connected.set()
    await stream.offer(AccountUpdate(address, 100, account))
    await stream.offer(AccountUpdate(address, 95, Account(2, b"", SYSTEM_PROGRAM_ID)))  # older
    other = Keypair().pubkey()
    await stream.offer(AccountUpdate(other, 89, account))  # 11 slots behind the newest seen
    assert stream.latest(address).slot == 100 and stream.latest(address).account.lamports == 1
    assert stream.latest(other) is None
    assert stream.stats.stale == 2


async def test_confirmation_by_subscription_spends_the_request_budget_on_sends(server):
    """The same 8 transfers, landing one every 100 ms after the wait began (as on a real
    cluster, where landing takes a while): confirmed by polling every 50 ms, then by
    signatureSubscribe. Prints the status requests per confirmed transaction of each."""
    rpc, calls, payer = _counted_rpc_and_payer(server)
    figures = {}
    try:
        for mode, ws_url in (("polling", None), ("subscription", server.ws_url)):
            built = [await _transfer(rpc, payer) for _ in range(8)]
            signatures = [b.signature for b in built]
            calls.clear()
            waiting = asyncio.create_task(
                await_signatures(
                    rpc=rpc,
                    ws_url=ws_url,
                    signatures=signatures,
                    last_valid_block_height=min(b.last_valid_block_height for b in built),
                    fallback_poll_s=60,
                )
            )
            await asyncio.sleep(0.1)
            for b in built:
                await send_transaction(rpc=rpc, built=b)
                await asyncio.sleep(0.1)
            assert await asyncio.wait_for(waiting, WAIT_S) == set(signatures)
            figures[mode] = (calls["getSignatureStatuses"] + calls["getBlockHeight"]) / 8
            assert calls["sendTransaction"] == 8
        # With subscriptions: one status read before subscribing (nothing landed yet), one
        # poll after subscribing (and the block height it reads when nothing has landed yet),
        # whatever the landing time.
        assert figures["subscription"] == 3 / 8
        print(
            f"\nstatus requests per confirmed transaction: polling {figures['polling']:.2f}, "
            f"subscription {figures['subscription']:.2f}"
        )
    finally:
        await rpc.aclose()


async def test_transactions_already_landed_are_confirmed_without_a_websocket(server):
    """The localnet answers sendTransaction once the transaction has landed: the one status
    read before subscribing confirms them, and no websocket is opened."""
    rpc, calls, payer = _counted_rpc_and_payer(server)
    try:
        built = [await _transfer(rpc, payer) for _ in range(3)]
        for b in built:
            await send_transaction(rpc=rpc, built=b)
        calls.clear()
        landed = await await_signatures(
            rpc=rpc, ws_url=server.ws_url, signatures=[b.signature for b in built],
            last_valid_block_height=min(b.last_valid_block_height for b in built),
        )  # fmt: skip
        assert landed == {b.signature for b in built}
        assert calls == Counter({"getSignatureStatuses": 1})
        assert server.hub.connections_served == 0
    finally:
        await rpc.aclose()


def _counted_rpc_and_payer(server) -> tuple[RpcPool, Counter[str], Keypair]:
    """An RPC pool counting its requests by method, and a funded payer."""
    calls: Counter[str] = Counter()
    rpc = RpcPool(
        endpoints=[EndpointConfig(name="http", url=server.url)],
        on_call=lambda endpoint, method, outcome, seconds: calls.update([method]),
    )
    payer = Keypair()
    fund(server.cluster, address=payer.pubkey(), lamports=LAMPORTS_PER_SOL)
    return rpc, calls, payer


async def _transfer(rpc: RpcPool, payer: Keypair):
    return await build_transaction(
        rpc=rpc, payer=payer, fee_policy=FixedFee(0),
        instructions=[
            sol_transfer(source=payer.pubkey(), destination=Keypair().pubkey(), lamports=10**6)
        ],
    )  # fmt: skip


async def test_confirmation_falls_back_to_polling_without_a_websocket(server, caplog):
    rpc, calls, payer = _counted_rpc_and_payer(server)
    built = await _transfer(rpc, payer)
    server.stop_pubsub()
    try:
        calls.clear()
        waiting = asyncio.create_task(
            await_signatures(
                rpc=rpc,
                ws_url=server.ws_url,
                signatures=[built.signature],
                last_valid_block_height=built.last_valid_block_height,
            )
        )
        # Sent once the status read before subscribing found nothing: the websocket is needed.
        await _until(lambda: calls["getSignatureStatuses"] >= 1, "the first status read")
        await send_transaction(rpc=rpc, built=built)
        assert await asyncio.wait_for(waiting, WAIT_S) == {built.signature}
        assert "signature subscriptions unavailable, polling" in caplog.text
    finally:
        server.start_pubsub()
        await rpc.aclose()
