"""The baseline: a bare solana-py send+confirm loop of SOL transfers against the localnet.

Later benchmarks divide their throughput by these figures, measured in the same process
with `measure_transfers`.
"""

from __future__ import annotations

import asyncio
import time

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.models import TxOpts
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.transaction import VersionedTransaction

from apps.chain.constants import LAMPORTS_PER_SOL
from apps.chain.rpc import EndpointConfig, make_client
from apps.chain.spl import sol_transfer
from apps.localnet import Cluster, create_app, start_server
from apps.localnet.seed import fund


async def _transfer_loop(client: AsyncClient, *, payer: Keypair, recipient, count: int) -> float:
    blockhash = (await client.get_latest_blockhash(Confirmed)).value.blockhash
    opts = TxOpts(skip_preflight=False, preflight_commitment=Confirmed)
    started = time.perf_counter()
    for i in range(count):
        ix = sol_transfer(source=payer.pubkey(), destination=recipient, lamports=1_000 + i)
        tx = VersionedTransaction(
            MessageV0.try_compile(payer.pubkey(), [ix], [], blockhash), [payer]
        )
        signature = (await client.send_raw_transaction(bytes(tx), opts=opts)).value
        while True:
            status = (await client.get_signature_statuses([signature])).value[0]
            if status is not None and status.confirmation_status is not None:
                break
            await asyncio.sleep(0.001)
    return count / (time.perf_counter() - started)


def measure_transfers(*, cluster: Cluster, count: int = 500, over_http: bool) -> float:
    """Transfers per second for one sequential send+confirm loop against `cluster`."""
    payer, recipient = Keypair(), Keypair()
    fund(cluster, address=payer.pubkey(), lamports=100 * LAMPORTS_PER_SOL)
    fund(cluster, address=recipient.pubkey(), lamports=LAMPORTS_PER_SOL)
    server = start_server(cluster=cluster) if over_http else None
    config = (
        EndpointConfig(name="http", url=server.url)
        if server is not None
        else EndpointConfig(name="inprocess", url="http://localnet/", asgi_app=create_app(cluster))
    )

    async def run() -> float:
        client = make_client(config, commitment=Confirmed)
        try:
            return await _transfer_loop(
                client, payer=payer, recipient=recipient.pubkey(), count=count
            )
        finally:
            await client.close()

    try:
        return asyncio.run(run())
    finally:
        if server is not None:
            server.stop()


def baseline(*, count: int = 500) -> tuple[int, int]:
    """(http, inprocess) transfers/s, each on a fresh cluster."""
    http = measure_transfers(cluster=Cluster(), count=count, over_http=True)
    inprocess = measure_transfers(cluster=Cluster(), count=count, over_http=False)
    return int(http), int(inprocess)
