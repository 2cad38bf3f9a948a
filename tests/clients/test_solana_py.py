"""The web3.js flow of `test_web3js.py` again with solana-py alone (its HTTP client and its
websocket client), against `manage.py localnet --seed`."""

from __future__ import annotations

import asyncio

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.models import TokenAccountOpts
from solana.rpc.websocket_api import SolanaWsClient
from solders.keypair import Keypair
from solders.message import Message
from solders.rpc.responses import AccountNotification, SignatureNotification
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

from apps.chain.constants import LAMPORTS_PER_SOL, SYSTEM_PROGRAM_ID
from apps.chain.dex.raydium_cpmm import RaydiumCpmm
from apps.chain.rpc import EndpointConfig, RpcPool
from apps.chain.spl import ata_address
from apps.localnet.seed import demo_keys
from tests.clients.test_web3js import _demo_cpmm_pool, _swap_on_demo_cpmm

WAIT_S = 30


async def _signature_landed(ws: SolanaWsClient) -> SignatureNotification:
    while True:
        note = await asyncio.wait_for(ws.recv(), WAIT_S)
        if isinstance(note, SignatureNotification):
            return note


async def test_solana_py_runs_the_same_flow(readme_localnet):
    url, ws_url = readme_localnet
    mint, wallet = demo_keys()
    client = AsyncClient(url, commitment=Confirmed)
    rpc = RpcPool(endpoints=[EndpointConfig(name="localnet", url=url)])
    try:
        async with SolanaWsClient(ws_url) as ws:
            # Airdrop, confirmed by signatureSubscribe.
            payer = Keypair()
            airdrop = (await client.request_airdrop(payer.pubkey(), 2 * LAMPORTS_PER_SOL)).value
            await ws.signature_subscribe(signature=airdrop, commitment=Confirmed)
            assert (await _signature_landed(ws)).result.value.err is None
            assert (await client.get_balance(payer.pubkey())).value == 2 * LAMPORTS_PER_SOL

            # A transfer, subscribed before it is sent.
            friend = Keypair().pubkey()
            blockhash = (await client.get_latest_blockhash()).value.blockhash
            message = Message(
                [
                    transfer(
                        TransferParams(
                            from_pubkey=payer.pubkey(),
                            to_pubkey=friend,
                            lamports=LAMPORTS_PER_SOL // 10,
                        )
                    )
                ],
                payer.pubkey(),
            )
            tx = Transaction([payer], message, blockhash)
            await ws.signature_subscribe(signature=tx.signatures[0], commitment=Confirmed)
            signature = (await client.send_transaction(tx)).value
            landed = await _signature_landed(ws)
            assert landed.result.value.err is None

            # Read back parsed.
            parsed = (
                await client.get_transaction(
                    signature, encoding="jsonParsed", max_supported_transaction_version=0
                )
            ).value
            meta = parsed.transaction.meta
            assert meta.fee == 5_000
            assert meta.pre_balances[0] - meta.post_balances[0] == LAMPORTS_PER_SOL // 10 + 5_000
            [instruction] = parsed.transaction.transaction.message.instructions
            assert instruction.program == "system"
            assert instruction.program_id == SYSTEM_PROGRAM_ID
            assert instruction.parsed == {
                "info": {
                    "destination": str(friend),
                    "lamports": LAMPORTS_PER_SOL // 10,
                    "source": str(payer.pubkey()),
                },
                "type": "transfer",
            }

            # Token accounts of the demo wallet, parsed (after a first buy gave it some).
            await _swap_on_demo_cpmm(rpc, mint, wallet)
            owned = (
                await client.get_token_accounts_by_owner_json_parsed(
                    wallet.pubkey(), TokenAccountOpts(mint=mint)
                )
            ).value
            balance = await client.get_token_account_balance(
                ata_address(owner=wallet.pubkey(), mint=mint)
            )
            [account] = owned
            info = account.account.data.parsed["info"]
            assert account.pubkey == ata_address(owner=wallet.pubkey(), mint=mint)
            assert info["mint"] == str(mint)
            assert info["tokenAmount"]["amount"] == balance.value.amount

            # accountSubscribe on the pool's SOL vault fires on a swap.
            state = await RaydiumCpmm().load_state(
                rpc=rpc, address=await _demo_cpmm_pool(rpc, mint)
            )
            vault = state.pool.token_0_vault if state.sol_is_token_0 else state.pool.token_1_vault
            before = (await client.get_account_info(vault)).value
            await ws.account_subscribe(pubkey=vault, commitment=Confirmed, encoding="base64")
            await _swap_on_demo_cpmm(rpc, mint, wallet)
            before_amount = int.from_bytes(bytes(before.data)[64:72], "little")
            # A node may also notify a write of the vault that left it as it was (the first
            # swap's, reaching `confirmed` after the subscription): wait for the swap's change.
            amount = before_amount
            while amount == before_amount:
                note = await asyncio.wait_for(ws.recv(), WAIT_S)
                if isinstance(note, AccountNotification):
                    amount = int.from_bytes(bytes(note.result.value.data)[64:72], "little")
            assert amount - before_amount == LAMPORTS_PER_SOL // 10
    finally:
        await client.close()
        await rpc.aclose()
