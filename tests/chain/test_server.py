"""The localnet served over HTTP: background server, manage.py localnet, state across restarts."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from solders.keypair import Keypair

from apps.chain.constants import LAMPORTS_PER_SOL
from apps.chain.dex.base import Side
from apps.chain.dex.raydium_cpmm import RaydiumCpmm
from apps.chain.jito import JitoClient
from apps.chain.rpc import EndpointConfig, RpcPool
from apps.chain.spl import sol_transfer
from apps.chain.tx import ConfirmStatus, FixedFee, build_transaction, send_and_confirm
from apps.localnet import Cluster, create_app, start_server
from apps.localnet.seed import fund, seed_token
from apps.localnet.server import STATE_FILE, free_port_pair, load_or_create

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server():
    running = start_server(cluster=Cluster(slot_ms=20))
    yield running
    running.stop()


async def test_it_serves_json_rpc_and_jito_over_http(server):
    payer = Keypair()
    fund(server.cluster, address=payer.pubkey(), lamports=LAMPORTS_PER_SOL)
    rpc = RpcPool(endpoints=[EndpointConfig(name="http", url=server.url)])
    to = Keypair().pubkey()

    built = await build_transaction(
        rpc=rpc,
        payer=payer,
        instructions=[sol_transfer(source=payer.pubkey(), destination=to, lamports=1_000_000)],
        fee_policy=FixedFee(0),
    )
    result = await send_and_confirm(rpc=rpc, built=built, poll_interval_s=0.02)

    assert result.status == ConfirmStatus.LANDED
    assert server.cluster.get_balance(to) == 1_000_000
    assert len(await JitoClient(base_url=server.url).get_tip_accounts()) == 8
    await rpc.aclose()


def test_it_keeps_accounts_and_slot_across_restarts(tmp_path):
    cluster, restored = load_or_create(state_dir=tmp_path, slot_ms=0)
    holder = Keypair().pubkey()
    fund(cluster, address=holder, lamports=123_456_789)
    cluster.advance_slots(500)
    cluster.save(tmp_path / STATE_FILE)

    again, restored_again = load_or_create(state_dir=tmp_path, slot_ms=0)

    assert (restored, restored_again) == (False, True)
    assert again.get_balance(holder) == 123_456_789
    assert again.slot > cluster.slot


async def test_a_restarted_localnet_trades_on_the_cpmm_pool_it_just_created(tmp_path):
    # `initialize` opens a pool a second after its block and the seeder moves the clock on;
    # the restarted cluster's clock never goes back behind the saved time.
    cluster, _ = load_or_create(state_dir=tmp_path, slot_ms=0)
    token = seed_token(cluster, raydium_reserves=None, pumpfun=False,
                       cpmm_reserves=(10**15, 10**11), wallets=1)  # fmt: skip
    saved_at = cluster.advance_time(60)  # as if it ran ahead of the wall clock
    cluster.save(tmp_path / STATE_FILE)

    again, _ = load_or_create(state_dir=tmp_path, slot_ms=0)
    rpc = RpcPool(endpoints=[EndpointConfig(name="restarted", url="http://l/",
                                            asgi_app=create_app(again))])  # fmt: skip
    adapter, trader = RaydiumCpmm(), token.wallets[0]
    state = await adapter.load_state(rpc=rpc, address=token.cpmm.pool)
    quote = adapter.quote(state=state, side=Side.BUY, amount_in=LAMPORTS_PER_SOL)
    built = await build_transaction(
        rpc=rpc, payer=trader,
        instructions=adapter.build_buy(state=state, owner=trader.pubkey(), quote=quote,
                                       slippage_bps=0),
    )  # fmt: skip
    result = await send_and_confirm(rpc=rpc, built=built, poll_interval_s=0.01)

    assert again.advance_time(0) >= saved_at
    assert result.status == ConfirmStatus.LANDED


@pytest.mark.skipif(
    importlib.util.find_spec("volumebot.settings") is None,
    reason="needs the project's Django settings",
)
def test_manage_py_localnet_serves_on_the_given_port(tmp_path):
    port = free_port_pair()  # JSON-RPC on it, PubSub on the next
    # Development settings (DEBUG=1) need no services; the localnet command needs none either.
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "volumebot.settings.base",
        "DEBUG": "1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "localnet",
            "--port",
            str(port),
            "--seed",
            "--state-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                slot = httpx.post(
                    f"http://127.0.0.1:{port}/",
                    json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"},
                )
                tips = httpx.post(
                    f"http://127.0.0.1:{port}/api/v1/bundles",
                    json={"jsonrpc": "2.0", "id": 1, "method": "getTipAccounts"},
                )
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    process.kill()
                    pytest.fail(
                        f"localnet did not serve: {process.communicate()[0].decode()[-2000:]}"
                    )
                time.sleep(0.2)
        assert slot.json()["result"] >= 1
        assert len(tips.json()["result"]) == 8
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert (tmp_path / STATE_FILE).exists()  # saved on the way out
