"""The localnet's PubSub websocket (RPC port + 1), driven by solana-py's websocket client as an
outside program would use it against a node."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from solana.rpc.commitment import Confirmed, Finalized, Processed
from solana.rpc.models import MemcmpOpts
from solana.rpc.websocket_api import SolanaWsClient
from solders.keypair import Keypair
from solders.rpc.config import RpcTransactionLogsFilterMentions
from solders.rpc.responses import (
    AccountNotificationJsonParsed,
    LogsNotification,
    ProgramNotification,
    SignatureNotification,
    SlotNotification,
)

from apps.chain.constants import LAMPORTS_PER_SOL, TOKEN_PROGRAM_ID
from apps.chain.rpc import EndpointConfig, RpcPool
from apps.chain.spl import ata_address, sol_transfer, transfer_checked
from apps.chain.tx import FixedFee, build_transaction, send_and_confirm, send_transaction
from apps.localnet import Cluster, start_server
from apps.localnet.cluster import FINALIZED_AFTER_SLOTS
from apps.localnet.seed import create_mint, create_token_account, fund

WAIT_S = 10  # an upper bound for a notification that must come; never reached when it works


@pytest.fixture
def server():
    # A 20 ms slot clock: finalized (32 slots deep) comes in well under a second.
    running = start_server(cluster=Cluster(slot_ms=20))
    yield running
    running.stop()


@pytest.fixture
async def rpc(server):
    pool = RpcPool(endpoints=[EndpointConfig(name="http", url=server.url)])
    yield pool
    await pool.aclose()


async def _send(rpc, payer, instructions):
    built = await build_transaction(
        rpc=rpc, payer=payer, instructions=instructions, fee_policy=FixedFee(0)
    )
    return await send_and_confirm(rpc=rpc, built=built, poll_interval_s=0.02)


async def _next(ws, kind):
    """The next notification of `kind` (slot notifications of other subscriptions skipped)."""
    while True:
        message = await asyncio.wait_for(ws.recv(), WAIT_S)
        if isinstance(message, kind):
            return message


async def test_signature_subscription_per_commitment(server, rpc):
    payer = Keypair()
    fund(server.cluster, address=payer.pubkey(), lamports=LAMPORTS_PER_SOL)
    friend = Keypair().pubkey()
    built = await build_transaction(
        rpc=rpc,
        payer=payer,
        instructions=[sol_transfer(source=payer.pubkey(), destination=friend, lamports=10**7)],
        fee_policy=FixedFee(0),
    )
    signature = built.signature

    async with SolanaWsClient(server.ws_url) as confirmed, SolanaWsClient(server.ws_url) as final:
        await confirmed.signature_subscribe(signature=signature, commitment=Confirmed)
        await final.signature_subscribe(signature=signature, commitment=Finalized)
        await send_and_confirm(rpc=rpc, built=built, poll_interval_s=0.02)
        landed = server.cluster.status(signature).slot

        note = await _next(confirmed, SignatureNotification)
        assert note.result.value.err is None
        assert note.result.context.slot == landed
        final_note = await _next(final, SignatureNotification)
        assert final_note.result.value.err is None
        # Finalized only once the slot is 32 deep.
        assert server.cluster.slot - landed >= FINALIZED_AFTER_SLOTS

    # A signature that already landed is notified as soon as it is subscribed.
    async with SolanaWsClient(server.ws_url) as late:
        await late.signature_subscribe(signature=signature, commitment=Processed)
        assert (await _next(late, SignatureNotification)).result.value.err is None


async def test_account_program_and_logs_subscriptions_follow_a_token_transfer(server, rpc):
    cluster = server.cluster
    payer = Keypair()
    fund(cluster, address=payer.pubkey(), lamports=LAMPORTS_PER_SOL)
    mint = create_mint(cluster, address=Keypair().pubkey(), decimals=6, authority=None)
    source = create_token_account(
        cluster,
        address=ata_address(owner=payer.pubkey(), mint=mint),
        mint=mint,
        owner=payer.pubkey(),
        amount=10_000_000,
    )
    friend = Keypair().pubkey()
    destination = create_token_account(
        cluster, address=Keypair().pubkey(), mint=mint, owner=friend, amount=0
    )

    async with SolanaWsClient(server.ws_url) as ws:
        await ws.account_subscribe(pubkey=destination, commitment=Confirmed, encoding="jsonParsed")
        await ws.program_subscribe(
            program_id=TOKEN_PROGRAM_ID,
            commitment=Confirmed,
            encoding="base64",
            filters=[165, MemcmpOpts(offset=32, bytes=str(friend))],
        )
        await ws.logs_subscribe(
            filter_=RpcTransactionLogsFilterMentions(destination), commitment=Confirmed
        )
        result = await _send(
            rpc,
            payer,
            [
                transfer_checked(
                    source=source,
                    mint=mint,
                    destination=destination,
                    authority=payer.pubkey(),
                    amount=2_500_000,
                    decimals=6,
                )
            ],
        )

        received = {}
        while len(received) < 3:
            note = await asyncio.wait_for(ws.recv(), WAIT_S)
            received[type(note)] = note
        account = received[AccountNotificationJsonParsed]
        parsed = account.result.value.data.parsed
        assert parsed["type"] == "account"
        assert parsed["info"]["tokenAmount"]["amount"] == "2500000"
        assert parsed["info"]["owner"] == str(friend)
        program = received[ProgramNotification]
        assert program.result.value.pubkey == destination
        assert program.result.value.account.data[64:72] == (2_500_000).to_bytes(8, "little")
        logs = received[LogsNotification]
        assert logs.result.value.signature == result.signature
        assert logs.result.value.err is None
        assert any(f"{TOKEN_PROGRAM_ID} success" in line for line in logs.result.value.logs)


async def test_slot_notifications_follow_the_clock(server):
    async with SolanaWsClient(server.ws_url) as ws:
        await ws.slot_subscribe()
        first = await _next(ws, SlotNotification)
        second = await _next(ws, SlotNotification)
        assert second.result.slot == first.result.slot + 1
        assert second.result.parent == first.result.slot
        assert second.result.root == max(0, second.result.slot - FINALIZED_AFTER_SLOTS)


async def test_many_subscribers_each_get_the_change(server, rpc):
    payer = Keypair()
    fund(server.cluster, address=payer.pubkey(), lamports=LAMPORTS_PER_SOL)
    watched = Keypair().pubkey()
    clients = [SolanaWsClient(server.ws_url) for _ in range(25)]
    for client in clients:
        await client.connect()
        await client.account_subscribe(pubkey=watched, commitment=Processed, encoding="base64")
    assert server.hub.subscription_count == 25

    await _send(
        rpc, payer, [sol_transfer(source=payer.pubkey(), destination=watched, lamports=3 * 10**7)]
    )

    for client in clients:
        while True:
            note = await asyncio.wait_for(client.recv(), WAIT_S)
            if note.result.value.lamports == 3 * 10**7:
                break
        await client.close()
    for _ in range(100):  # the server notices each close on its own time
        if server.hub.subscription_count == 0:
            break
        await asyncio.sleep(0.02)
    assert server.hub.subscription_count == 0


async def test_unsubscribe_and_the_nodes_errors(server):
    async with websockets.connect(server.ws_url) as ws:

        async def ask(method, params):
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": 5, "method": method, "params": params})
            )
            while True:
                answer = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
                if answer.get("id") == 5:
                    return answer

        sub = (await ask("slotSubscribe", []))["result"]
        assert (await ask("slotUnsubscribe", [sub])) == {"jsonrpc": "2.0", "result": True, "id": 5}
        assert (await ask("slotUnsubscribe", [sub]))["error"] == {
            "code": -32602,
            "message": "Invalid subscription id.",
        }
        account = (await ask("accountSubscribe", [str(Keypair().pubkey())]))["result"]
        # An account subscription is not a logs subscription.
        assert (await ask("logsUnsubscribe", [account]))["error"]["code"] == -32602
        assert (await ask("voteSubscribe", []))["error"] == {
            "code": -32601,
            "message": "Method not found",
        }
        mentions = [str(Keypair().pubkey()), str(Keypair().pubkey())]
        assert (await ask("logsSubscribe", [{"mentions": mentions}]))["error"] == {
            "code": -32602,
            "message": "Invalid Request: Only 1 address supported",
        }
        bad = await ask("accountSubscribe", [str(Keypair().pubkey()), {"encoding": "hex"}])
        assert "unknown variant `hex`" in bad["error"]["message"]
        assert server.hub.subscription_count == 1


async def _level(rpc, signature) -> str:
    """The signature's confirmation status, as getSignatureStatuses answers it."""
    answer = await rpc.call("getSignatureStatuses", lambda c: c.get_signature_statuses([signature]))
    return str(answer.value[0].confirmation_status).rsplit(".", 1)[-1]


async def _served(rpc, signature):
    """getTransaction at `confirmed` (None while the node does not serve it)."""
    answer = await rpc.call(
        "getTransaction",
        lambda c: c.get_transaction(
            signature, commitment=Confirmed, max_supported_transaction_version=0
        ),
    )
    return answer.value


async def test_a_confirmation_delay_holds_statuses_and_notifications_back():
    """`confirm_after_slots`, as a mainnet node answers: the send returns at once, the
    transaction is processed, and it is confirmed (status, getTransaction, confirmed
    signature notification) only 2 slots later. The clock is manual: nothing moves it but the
    test, so what is held back is held back by the slot count, not by time."""
    server = start_server(cluster=Cluster(slot_ms=0, confirm_after_slots=2))
    rpc = RpcPool(endpoints=[EndpointConfig(name="http", url=server.url)])
    payer = Keypair()
    fund(server.cluster, address=payer.pubkey(), lamports=LAMPORTS_PER_SOL)
    transfer = sol_transfer(source=payer.pubkey(), destination=Keypair().pubkey(), lamports=10**6)
    try:
        built = await build_transaction(
            rpc=rpc, payer=payer, fee_policy=FixedFee(0), instructions=[transfer]
        )
        signature = built.signature
        async with (
            SolanaWsClient(server.ws_url) as processed,
            SolanaWsClient(server.ws_url) as confirmed,
        ):
            await processed.signature_subscribe(signature=signature, commitment=Processed)
            await confirmed.slot_subscribe()
            await confirmed.signature_subscribe(signature=signature, commitment=Confirmed)
            await send_transaction(rpc=rpc, built=built)
            landed = server.cluster.status(signature).slot
            # The hub has dispatched the landing: a confirmed notification would be queued now.
            assert (await _next(processed, SignatureNotification)).result.context.slot == landed

            assert await _level(rpc, signature) == "Processed"
            assert await _served(rpc, signature) is None
            server.cluster.advance_slots(1)
            assert await _level(rpc, signature) == "Processed"
            server.cluster.advance_slots(1)
            assert await _level(rpc, signature) == "Confirmed"
            assert (await _served(rpc, signature)).slot == landed

            # On the confirmed connection the signature comes after the slot that confirmed it.
            slots = []
            message = await asyncio.wait_for(confirmed.recv(), WAIT_S)
            while not isinstance(message, SignatureNotification):
                if isinstance(message, SlotNotification):
                    slots.append(message.result.slot)
                message = await asyncio.wait_for(confirmed.recv(), WAIT_S)
            assert message.result.context.slot == landed
            assert slots and max(slots) >= landed + 2
    finally:
        await rpc.aclose()
        server.stop()
