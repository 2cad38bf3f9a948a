"""Localnet fixtures for the chain tests: a fresh in-process cluster per test (milliseconds)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from apps.chain.constants import LAMPORTS_PER_SOL
from apps.chain.rpc import EndpointConfig, RpcPool
from apps.chain.tx import ConfirmResult, FixedFee, build_transaction, send_and_confirm
from apps.localnet import Cluster, Faults, create_app
from apps.localnet.seed import fund, seed_token


@pytest.fixture
def cluster() -> Cluster:
    # A manual clock: slots move only when a test advances them, so timing never flakes.
    return Cluster(slot_ms=0)


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def app(cluster, faults):
    return create_app(cluster, faults=faults)


@pytest.fixture
def rpc(app) -> RpcPool:
    return RpcPool(
        endpoints=[EndpointConfig(name="localnet", url="http://localnet/", asgi_app=app)]
    )


@pytest.fixture
def payer(cluster) -> Keypair:
    keypair = Keypair()
    fund(cluster, address=keypair.pubkey(), lamports=10 * LAMPORTS_PER_SOL)
    return keypair


@pytest.fixture
def seeded(cluster):
    return seed_token(cluster)


async def execute(
    rpc: RpcPool,
    payer: Keypair,
    instructions: Sequence[Instruction],
    *,
    signers: Sequence[Keypair] = (),
    price: int = 0,
    compute_unit_limit: int | None = 200_000,
    skip_preflight: bool = False,
) -> ConfirmResult:
    built = await build_transaction(
        rpc=rpc,
        payer=payer,
        instructions=instructions,
        signers=signers,
        fee_policy=FixedFee(price),
        compute_unit_limit=compute_unit_limit,
    )
    return await send_and_confirm(
        rpc=rpc, built=built, skip_preflight=skip_preflight, poll_interval_s=0.01
    )


def key(n: int) -> Pubkey:
    return Pubkey.from_bytes(bytes([n]) * 32)


async def balance(rpc, address) -> int:
    """Lamports at `address`."""
    return (await rpc.call("getBalance", lambda c: c.get_balance(address))).value


async def tokens(rpc, address) -> int:
    """Raw token amount of the token account at `address` (0 when it does not exist)."""
    resp = await rpc.call("getAccountInfo", lambda c: c.get_account_info(address))
    if resp.value is None:
        return 0
    return int.from_bytes(bytes(resp.value.data)[64:72], "little")
