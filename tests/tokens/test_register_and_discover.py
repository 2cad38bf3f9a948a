"""Registration and discovery against the real localnet (seeded mints, pools and curves)."""

import dataclasses

import pytest
from prometheus_client import REGISTRY
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from apps.chain.constants import LAMPORTS_PER_SOL, TOKEN_2022_PROGRAM_ID, WSOL_MINT
from apps.chain.dex import pumpfun_state as pfs
from apps.core.errors import Conflict, ValidationFailed
from apps.localnet.seed import (
    PUMP_INITIAL_REAL_TOKEN_RESERVES,
    PUMP_INITIAL_VIRTUAL_SOL_RESERVES,
    PUMP_INITIAL_VIRTUAL_TOKEN_RESERVES,
    PUMP_TOKEN_TOTAL_SUPPLY,
    launch_curve,
    migrated_curve,
    seed_token,
)
from apps.localnet.seed_pump import seed_pumpswap_pool
from apps.tokens.models import Pool, PoolSelection, Token, TokenLink
from apps.tokens.services import pool_select, token_register
from tests.factories import TokenFactory

pytestmark = pytest.mark.django_db

RAYDIUM_TOKENS, RAYDIUM_SOL = 400_000_000_000_000, 150 * LAMPORTS_PER_SOL


@pytest.fixture
def seeded(localnet):
    return seed_token(
        localnet.cluster,
        name="Seeded Coin",
        symbol="SEED",
        uri="https://localnet.invalid/seed.json",
        decimals=6,
        raydium_reserves=(RAYDIUM_TOKENS, RAYDIUM_SOL),
    )


def rpc_calls() -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "volumebot_rpc_calls"
        for sample in metric.samples
        if sample.name == "volumebot_rpc_calls_total"
    )


def test_it_registers_the_seeded_mint_with_its_metadata(alice, seeded):
    token = token_register(owner=alice, network="localnet", mint=str(seeded.mint))

    assert (token.name, token.symbol, token.uri) == (
        "Seeded Coin",
        "SEED",
        "https://localnet.invalid/seed.json",
    )
    assert token.decimals == 6
    assert token.program == "spl"
    assert token.mint_authority == str(seeded.mint_authority.pubkey())
    assert token.freeze_authority == ""
    assert TokenLink.objects.filter(owner=alice, token=token).count() == 1


def test_it_registers_a_mint_once_and_links_every_user(alice, bob, seeded):
    first = token_register(owner=alice, network="localnet", mint=str(seeded.mint))
    second = token_register(owner=bob, network="localnet", mint=str(seeded.mint))
    again = token_register(owner=bob, network="localnet", mint=str(seeded.mint))

    assert first.pk == second.pk == again.pk
    assert Token.objects.count() == 1
    assert TokenLink.objects.count() == 2


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("wallet", "This address is a wallet, not a token mint."),
        ("token_account", "This address is a token account, not a mint: use the mint it holds."),
        ("unknown", "Not found on localnet: no account exists at this address."),
    ],
)
def test_it_says_what_an_address_is_when_it_is_not_a_mint(alice, seeded, alice_api, what, message):
    address = {
        "wallet": str(seeded.wallets[0].pubkey()),
        "token_account": str(seeded.raydium.coin_vault),
        "unknown": str(Keypair().pubkey()),
    }[what]

    response = alice_api.post("/v1/tokens", {"mint": address, "network": "localnet"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"mint": [message]}
    assert not Token.objects.exists()


def test_it_discovers_both_venues_with_exact_reserves_and_caches(alice_api, seeded):
    before = rpc_calls()
    pools = alice_api.get(f"/v1/pools?mint={seeded.mint}&network=localnet").json()
    after_first = rpc_calls()
    cached = alice_api.get(f"/v1/pools?mint={seeded.mint}&network=localnet").json()
    after_cached = rpc_calls()
    refreshed = alice_api.get(f"/v1/pools?mint={seeded.mint}&network=localnet&refresh=true").json()
    after_refresh = rpc_calls()

    by_dex = {pool["dex"]: pool for pool in pools}
    raydium, pump = by_dex["raydium_amm_v4"], by_dex["pumpfun"]
    assert raydium["address"] == str(seeded.raydium.amm)
    assert (raydium["base_reserve_raw"], raydium["quote_reserve_lamports"]) == (
        RAYDIUM_TOKENS,
        RAYDIUM_SOL,
    )
    assert raydium["liquidity_lamports"] == 2 * RAYDIUM_SOL
    assert raydium["fee_bps"] == 25
    assert raydium["price_sol"] == "0.000000375"  # 150 SOL / 400,000,000 whole tokens
    assert pump["address"] == str(seeded.pumpfun.curve)
    assert pump["migrated"] is False
    # The fee program's first tier for the curve: 0.95 % protocol + 0.30 % creator.
    assert pump["fee_bps"] == 125
    assert pump["progress_bps"] == 0
    assert after_first > before
    assert after_cached == after_first  # served from the cache: no RPC call
    assert after_refresh > after_cached
    assert cached == pools == refreshed


def test_it_lists_and_selects_the_cpmm_pool_of_a_token_2022_mint(alice, alice_api, localnet):
    seeded = seed_token(
        localnet.cluster, token_program=TOKEN_2022_PROGRAM_ID, raydium_reserves=None,
        cpmm_reserves=(RAYDIUM_TOKENS, RAYDIUM_SOL),
    )  # fmt: skip
    token = token_register(owner=alice, network="localnet", mint=str(seeded.mint))

    pools = alice_api.get(f"/v1/pools?mint={seeded.mint}&network=localnet").json()
    selection = pool_select(owner=alice, token_id=token.pk, address=str(seeded.cpmm.pool))

    assert token.program == "token2022"
    by_dex = {pool["dex"]: pool for pool in pools}
    assert sorted(by_dex) == ["pumpfun", "raydium_cpmm"]
    cpmm = by_dex["raydium_cpmm"]
    assert (cpmm["venue"], cpmm["address"]) == ("Raydium CPMM", str(seeded.cpmm.pool))
    assert (cpmm["base_reserve_raw"], cpmm["quote_reserve_lamports"]) == (
        RAYDIUM_TOKENS,
        RAYDIUM_SOL,
    )
    assert (cpmm["fee_bps"], cpmm["price_sol"], cpmm["migrated"]) == (25, "0.000000375", False)
    assert (selection.pool.dex, selection.pool.get_dex_display()) == (
        "raydium_cpmm",
        "Raydium CPMM",
    )
    assert selection.pool.token == token


def test_it_refuses_to_select_a_pumpfun_coin_quoted_in_anything_but_sol(alice, localnet):
    usdc = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
    curve = dataclasses.replace(
        launch_curve(creator=Keypair().pubkey()), quote_mint=Pubkey.from_string(usdc)
    )
    seeded = seed_token(localnet.cluster, raydium_reserves=None, pumpfun_curve=curve)
    token = token_register(owner=alice, network="localnet", mint=str(seeded.mint))

    with pytest.raises(Conflict, match=f"quoted in {usdc}, not SOL") as refused:
        pool_select(owner=alice, token_id=token.pk, address=str(seeded.pumpfun.curve))

    assert refused.value.code == "pool_not_sol_quoted"
    assert not Pool.objects.exists()
    assert not PoolSelection.objects.exists()


def test_it_shows_a_migrated_curve_and_refuses_to_select_it(alice, localnet):
    seeded = seed_token(localnet.cluster, raydium_reserves=None, pumpfun_curve=migrated_curve())
    token = token_register(owner=alice, network="localnet", mint=str(seeded.mint))

    with pytest.raises(Conflict, match="the token migrated"):
        pool_select(owner=alice, token_id=token.pk, address=str(seeded.pumpfun.curve))

    assert not Pool.objects.exists()
    assert not PoolSelection.objects.exists()


def test_it_selects_a_discovered_pool_once(alice, seeded):
    token = token_register(owner=alice, network="localnet", mint=str(seeded.mint))

    first = pool_select(owner=alice, token_id=token.pk, address=str(seeded.raydium.amm))
    again = pool_select(owner=alice, token_id=token.pk, address=str(seeded.raydium.amm))

    assert first.pk == again.pk
    pool = Pool.objects.get()
    assert (pool.dex, pool.token) == ("raydium_amm_v4", token)
    assert pool.address == str(seeded.raydium.amm)
    assert pool.metadata["quote_reserve_lamports"] == RAYDIUM_SOL


def test_it_refuses_to_select_an_address_that_is_not_a_pool_of_the_token(alice, seeded):
    token = token_register(owner=alice, network="localnet", mint=str(seeded.mint))

    with pytest.raises(ValidationFailed, match="not a pool of this token"):
        pool_select(owner=alice, token_id=token.pk, address=str(seeded.wallets[0].pubkey()))
    assert not PoolSelection.objects.exists()


@pytest.mark.parametrize("htmx", [False, True])
def test_it_renders_the_pool_table_with_and_without_htmx(client, alice, seeded, htmx):
    token = token_register(owner=alice, network="localnet", mint=str(seeded.mint))
    client.force_login(alice)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}

    page = client.get(f"/tokens/{token.pk}/", **headers)
    selected = client.post(
        f"/tokens/{token.pk}/pools/select/", {"address": str(seeded.raydium.amm)}, **headers
    )

    assert page.status_code == 200
    assert b'id="pool-candidates"' in page.content
    assert str(seeded.raydium.amm).encode() in page.content
    assert (b"<html" in page.content) is not htmx
    assert PoolSelection.objects.filter(owner=alice).count() == 1
    if htmx:
        assert b"selected</span>" in selected.content
    else:
        assert selected.status_code == 302


@pytest.mark.parametrize("htmx", [False, True])
def test_it_previews_metadata_before_saving(client, alice, seeded, htmx):
    client.force_login(alice)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}

    response = client.post(
        "/tokens/register/",
        {"mint": str(seeded.mint), "network": "localnet", "preview": "1"},
        **headers,
    )

    assert b"Seeded Coin" in response.content
    assert b"SEED" in response.content
    assert not Token.objects.exists()


def test_it_reports_a_partly_sold_curve_with_exact_reserves_and_progress(alice_api, localnet):
    sold_tokens, paid_lamports = 200_000_000_000_000, 20 * LAMPORTS_PER_SOL
    curve = pfs.BondingCurve(
        virtual_token_reserves=PUMP_INITIAL_VIRTUAL_TOKEN_RESERVES - sold_tokens,
        virtual_quote_reserves=PUMP_INITIAL_VIRTUAL_SOL_RESERVES + paid_lamports,
        real_token_reserves=PUMP_INITIAL_REAL_TOKEN_RESERVES - sold_tokens,
        real_quote_reserves=paid_lamports,
        token_total_supply=PUMP_TOKEN_TOTAL_SUPPLY,
        complete=False,
        creator=Keypair().pubkey(),
    )
    seeded = seed_token(localnet.cluster, raydium_reserves=None, pumpfun_curve=curve)

    (pump,) = alice_api.get(f"/v1/pools?mint={seeded.mint}").json()

    assert pump["base_reserve_raw"] == PUMP_INITIAL_REAL_TOKEN_RESERVES - sold_tokens
    assert pump["quote_reserve_lamports"] == paid_lamports
    assert pump["liquidity_lamports"] == paid_lamports
    assert pump["progress_bps"] == sold_tokens * 10_000 // PUMP_INITIAL_REAL_TOKEN_RESERVES
    assert pump["migrated"] is False


@pytest.mark.parametrize("htmx", [False, True])
def test_it_says_the_chain_is_unavailable_instead_of_failing_the_page(
    client, alice, settings, htmx
):
    # The network's RPC does not answer (this page used to be a 500).
    settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "localnet": ["http://127.0.0.1:9"]}
    token = TokenFactory(symbol="OFF", name="Offline", linked_to=alice)
    client.force_login(alice)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}

    response = client.get(f"/tokens/{token.pk}/", **headers)

    assert response.status_code == 200
    assert b"RPC endpoints are not answering" in response.content
    assert b'id="pool-candidates"' in response.content
    assert not PoolSelection.objects.filter(owner=alice).exists()


def test_the_demo_account_gets_the_demo_token_with_both_raydium_pools(alice, settings):
    from apps.localnet import Cluster, start_server
    from apps.localnet.management.commands.seed_demo import demo_trading_setup
    from apps.localnet.seed import seed_demo

    # A cluster of its own: the demo's keys are fixed, so it is seeded once per cluster.
    server = start_server(cluster=Cluster())
    try:
        settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "localnet": [server.url]}
        demo = seed_demo(server.cluster)

        wallet, token, pool = demo_trading_setup(alice)
    finally:
        server.stop()

    assert (token.mint, token.symbol) == (str(demo.mint), "VBDEMO")
    assert wallet.address == str(demo.wallets[0].pubkey())
    assert (pool.dex, pool.address) == ("raydium_amm_v4", str(demo.raydium.amm))
    selected = PoolSelection.objects.filter(owner=alice).values_list("pool__dex", "pool__address")
    assert sorted(selected) == [
        ("raydium_amm_v4", str(demo.raydium.amm)),
        ("raydium_cpmm", str(demo.cpmm.pool)),
    ]


def test_it_shows_a_migrated_coins_pumpswap_pool_next_to_its_completed_curve(
    alice, alice_api, localnet
):
    seeded = seed_token(localnet.cluster, raydium_reserves=None, pumpfun_curve=migrated_curve())
    pool = seed_pumpswap_pool(
        localnet.cluster, mint=seeded.mint, base_reserve=206_900_000_000_000,
        quote_reserve=84_990_359_056, coin_creator=seeded.pumpfun.creator,
    )  # fmt: skip

    pools = alice_api.get(f"/v1/pools?mint={seeded.mint}&network=localnet").json()

    by_dex = {p["dex"]: p for p in pools}
    assert set(by_dex) == {"pumpfun", "pumpswap"}
    assert by_dex["pumpfun"]["migrated"] is True
    swap = by_dex["pumpswap"]
    assert (swap["address"], swap["venue"], swap["migrated"]) == (str(pool.pool), "PumpSwap", False)
    assert (swap["base_reserve_raw"], swap["quote_reserve_lamports"]) == (
        206_900_000_000_000,
        84_990_359_056,
    )
    assert swap["fee_bps"] == 125  # 0.02 % LP + 0.93 % protocol + 0.30 % creator
    token = token_register(owner=alice, network="localnet", mint=str(seeded.mint))
    selection = pool_select(owner=alice, token_id=token.pk, address=str(pool.pool))
    assert (selection.pool.dex, selection.pool.quote_mint) == ("pumpswap", str(WSOL_MINT))


def test_the_register_page_offers_the_localnets_tokens(client, alice, seeded, settings):
    client.force_login(alice)
    page = client.get("/tokens/register/").content.decode()
    assert 'id="seeded-tokens"' in page
    assert str(seeded.mint) in page and "Add SEED" in page

    response = client.post("/tokens/register/", {"mint": str(seeded.mint), "network": "localnet"})

    token = Token.objects.get(mint=str(seeded.mint))
    assert response.status_code == 302 and response["Location"] == f"/tokens/{token.pk}/"
    settings.SOLANA_DEFAULT_NETWORK = "devnet"
    assert 'id="seeded-tokens"' not in client.get("/tokens/register/").content.decode()
