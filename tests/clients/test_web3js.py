"""An independent client against the localnet: `@solana/web3.js` 1.x (pinned in
`web3js/package-lock.json`) runs `web3js/check.mjs` against `manage.py localnet --seed`, and
this test swaps on the demo pool while the script waits on `onAccountChange`.

`make test` installs Node and npm from Debian when they are missing (the Makefile's `node`
target); `npm ci` installs exactly the lock (from npm's cache when it has the files).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from solders.pubkey import Pubkey

from apps.chain.constants import LAMPORTS_PER_SOL, SYSTEM_PROGRAM_ID
from apps.chain.dex.base import Side
from apps.chain.dex.discovery import discover_pools
from apps.chain.dex.raydium_cpmm import RaydiumCpmm
from apps.chain.rpc import EndpointConfig, RpcPool
from apps.chain.spl import ata_address
from apps.chain.tx import ConfirmStatus, build_transaction, send_and_confirm
from apps.localnet.seed import demo_keys

CLIENT = Path(__file__).parent / "web3js"
STEP_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def web3js() -> Path:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: `make node` installs Debian's nodejs and npm")
    subprocess.run(
        ["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=CLIENT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return CLIENT


async def _swap_on_demo_cpmm(rpc: RpcPool, mint: Pubkey, trader) -> None:
    adapter = RaydiumCpmm()
    state = await adapter.load_state(rpc=rpc, address=await _demo_cpmm_pool(rpc, mint))
    quote = adapter.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL // 10)
    built = await build_transaction(
        rpc=rpc,
        payer=trader,
        instructions=adapter.build_buy(
            state=state, owner=trader.pubkey(), quote=quote, slippage_bps=100
        ),
    )
    result = await send_and_confirm(rpc=rpc, built=built, poll_interval_s=0.05)
    assert result.status == ConfirmStatus.LANDED


async def _demo_cpmm_pool(rpc: RpcPool, mint: Pubkey) -> Pubkey:
    pools = await discover_pools(rpc=rpc, mint=mint)
    [pool] = [p for p in pools if p.dex == RaydiumCpmm.name]
    return Pubkey.from_string(pool.address)


async def test_web3js_runs_a_normal_flow_against_the_localnet(readme_localnet, web3js):
    url, _ = readme_localnet
    mint, wallet = demo_keys()
    rpc = RpcPool(endpoints=[EndpointConfig(name="localnet", url=url)])
    adapter = RaydiumCpmm()
    state = await adapter.load_state(rpc=rpc, address=await _demo_cpmm_pool(rpc, mint))
    sol_vault = state.pool.token_0_vault if state.sol_is_token_0 else state.pool.token_1_vault
    demo_ata = ata_address(owner=wallet.pubkey(), mint=mint)
    await _swap_on_demo_cpmm(rpc, mint, wallet)  # the demo wallet now holds demo tokens
    demo_tokens = await rpc.call(
        "getTokenAccountBalance", lambda c: c.get_token_account_balance(demo_ata)
    )

    process = await asyncio.create_subprocess_exec(
        "node",
        "check.mjs",
        cwd=web3js,
        env={
            **os.environ,
            "RPC_URL": url,
            "DEMO_WALLET": str(wallet.pubkey()),
            "DEMO_MINT": str(mint),
            "WATCH": str(sol_vault),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    events: dict[str, dict] = {}
    try:
        while "websocket" not in events:
            line = await asyncio.wait_for(process.stdout.readline(), STEP_TIMEOUT_S)
            if not line:
                stderr = (await process.stderr.read()).decode()[-2000:]
                pytest.fail(f"check.mjs ended early: {events} {stderr}")
            event = json.loads(line)
            events[event["event"]] = event
            assert event["event"] != "error", event["message"]
            if event["event"] == "ready":
                await _swap_on_demo_cpmm(rpc, mint, wallet)
        assert await asyncio.wait_for(process.wait(), STEP_TIMEOUT_S) == 0
    finally:
        if process.returncode is None:
            process.kill()
        await rpc.aclose()

    assert events["airdrop"] == {"event": "airdrop", "err": None, "balance": 2 * LAMPORTS_PER_SOL}
    transfer = events["transfer"]
    assert transfer["err"] is None and transfer["signature"] == transfer["expected"]
    parsed = events["parsedTransaction"]
    assert parsed["fee"] == 5_000
    assert parsed["version"] == "legacy"
    assert (parsed["program"], parsed["type"]) == ("system", "transfer")
    assert parsed["info"]["lamports"] == LAMPORTS_PER_SOL // 10
    assert parsed["signer"] is True
    assert parsed["preBalances"][0] - parsed["postBalances"][0] == LAMPORTS_PER_SOL // 10 + 5_000
    assert events["tokenAccounts"]["accounts"] == [
        {
            "pubkey": str(demo_ata),
            "program": "spl-token",
            "type": "account",
            "mint": str(mint),
            "amount": demo_tokens.value.amount,
        }
    ]
    change = events["accountChange"]
    # The buy paid 0.1 SOL into the pool's WSOL vault.
    assert int(change["after"]) - int(change["before"]) == LAMPORTS_PER_SOL // 10
    assert change["owner"] != str(SYSTEM_PROGRAM_ID)
    # Both confirmations and the account change came over the PubSub websocket.
    assert {"signatureSubscribe", "accountSubscribe"} <= set(events["websocket"]["methods"])
