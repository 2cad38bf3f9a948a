"""The cost estimate: pure maths, and the endpoint against a pool seeded on the localnet,
checked against constant-product maths recomputed here."""

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from apps.campaigns.domain import Params, PoolReserves, estimate, mean_trade_lamports
from apps.campaigns.models import CampaignRun
from apps.campaigns.params import params_from_input
from apps.campaigns.services import InsufficientFunds, campaign_create, campaign_start
from apps.chain.dex.base import Side
from apps.chain.dex.raydium_amm_v4 import RaydiumAmmV4
from apps.chain.dex.raydium_cpmm import RaydiumCpmm
from apps.core.chain import chain_run
from apps.localnet.seed import migrated_curve, seed_token
from apps.localnet.seed_pump import seed_pumpswap_pool
from apps.tokens.services import pool_select, token_register
from tests.factories import WalletFactory
from tests.support.campaigns import PARAMS, SOL, make_campaign

TOKENS, SOL_RESERVE = 400_000_000_000_000, 150 * SOL


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def round_trip(size: int, sol: int, tokens: int, fee_bps: int) -> int:
    """Buy for `size` lamports on x·y=k with the fee taken from the input, then sell the tokens
    back into the pool that now holds the whole input."""
    net_in = size - ceil_div(size * fee_bps, 10_000)
    bought = tokens * net_in // (sol + net_in)
    net_back = bought - ceil_div(bought * fee_bps, 10_000)
    received = (sol + size) * net_back // (tokens - bought + net_back)
    return size - received


def params(**changes) -> Params:
    return Params.from_json(params_from_input({**PARAMS, **changes}))


def test_it_estimates_trades_fees_and_impact_from_the_maths():
    p = params(
        trade_size_min_sol="0.02", trade_size_max_sol="0.04", target_volume_sol="3",
        priority_fee_micro_lamports=50_000,
    )  # fmt: skip
    pool = PoolReserves(sol_reserve_lamports=100 * SOL, token_reserve_raw=10**15, fee_bps=25)

    result = estimate(params=p, pool=pool)

    mean = 30_000_000
    trades = 100  # 3 SOL / 0.03 SOL
    priority = ceil_div(50_000 * 200_000, 1_000_000)  # micro-lamports/CU * CU
    rt = round_trip(mean, 100 * SOL, 10**15, 25)
    assert (result.mean_trade_lamports, result.trades) == (mean, trades)
    assert result.volume_lamports == 3 * SOL
    assert result.fee_per_trade_lamports == 5_000 + priority
    assert result.network_fees_lamports == trades * 5_000
    assert result.priority_fees_lamports == trades * priority
    assert result.tips_lamports == 0
    assert result.round_trip_cost_lamports == rt
    assert result.price_impact_lamports == 50 * rt
    assert result.setup_fees_lamports == 5_000 + 3 * 3 * 5_000
    assert result.total_cost_lamports == (trades * (5_000 + priority) + 50 * rt + 5_000 + 45_000)
    assert result.sol_needed_upfront_lamports == 3 * SOL // 2 + 50_000
    assert result.warnings == []


def test_it_counts_jito_tips_and_warns_when_the_budget_runs_out_first():
    p = params(
        execution_mode="jito", jito_region="ny", jito_tip_min_lamports=10_000,
        jito_tip_max_lamports=30_000, budget_cap_sol="0.01",
    )  # fmt: skip
    pool = PoolReserves(sol_reserve_lamports=100 * SOL, token_reserve_raw=10**15, fee_bps=25)

    result = estimate(params=p, pool=pool)

    assert result.tip_per_trade_lamports == 20_000
    assert result.tips_lamports == result.trades * 20_000
    per_trade = 5_000 + 20_000 + ceil_div(result.round_trip_cost_lamports, 2)
    assert result.trades_within_budget == (SOL // 100 - 50_000) // per_trade
    assert [w.field for w in result.warnings] == ["params.budget_cap_sol"]
    assert result.warnings[0].message.startswith(
        f"The budget cap runs out after about {result.trades_within_budget} trades"
    )


def test_it_uses_the_window_when_there_is_no_target():
    p = params(target_volume_sol=None, duration_seconds=3600)  # one trade every 2 s on average

    assert estimate(params=p, pool=PoolReserves(SOL, 10**12, 25)).trades == 1800


def test_it_takes_the_mean_of_the_clipped_lognormal():
    uniform = params(trade_size_min_sol="0.01", trade_size_max_sol="0.05")
    lognormal = params(
        trade_size_min_sol="0.01", trade_size_max_sol="0.05", trade_size_distribution="lognormal"
    )

    assert mean_trade_lamports(uniform) == 30_000_000
    # ln-midpoint (geometric mean) 0.02236 SOL, pulled up by the right-skewed tail.
    assert 22_360_680 < mean_trade_lamports(lognormal) < 25_000_000


@pytest.fixture
def seeded(localnet):
    return seed_token(localnet.cluster, raydium_reserves=(TOKENS, SOL_RESERVE))


@pytest.fixture
def localnet_campaign(alice, seeded):
    token = token_register(owner=alice, network="localnet", mint=str(seeded.mint))
    selection = pool_select(owner=alice, token_id=token.pk, address=str(seeded.raydium.amm))
    funding = WalletFactory(owner=alice, keypair=seeded.wallets[0])  # 100 SOL on the localnet

    def make(wallet=funding, **changes):
        return campaign_create(
            owner=alice, name="Localnet", token_id=token.pk, pool_id=selection.pool_id,
            funding_wallet_id=wallet.pk, params={**PARAMS, **changes},
        )  # fmt: skip

    return make


@pytest.mark.django_db
def test_it_estimates_a_seeded_localnet_pool_with_constant_product_maths(
    alice_api, localnet_campaign, seeded
):
    campaign = localnet_campaign(trade_size_min_sol="0.5", trade_size_max_sol="1.5",
                                 maker_funding_sol="2", target_volume_sol="25")  # fmt: skip

    response = alice_api.post(f"/v1/campaigns/{campaign.pk}/estimate")

    assert response.status_code == 200
    body = response.json()
    assert body["pool"] == {
        "sol_reserve_lamports": SOL_RESERVE, "token_reserve_raw": TOKENS, "fee_bps": 25,
    }  # fmt: skip
    mean = SOL
    rt = round_trip(mean, SOL_RESERVE, TOKENS, 25)
    assert body["mean_trade_lamports"] == mean
    assert body["trades"] == 25
    assert body["round_trip_cost_lamports"] == rt
    assert body["price_impact_lamports"] == 13 * rt  # 25 trades pair into 13 round trips
    assert body["network_fees_lamports"] == 25 * 5_000
    assert body["sol_needed_upfront_lamports"] == 3 * 2 * SOL + 5_000 + 45_000
    assert body["total_cost_lamports"] == 25 * 5_000 + 13 * rt + 50_000
    # The buy leg agrees with the venue adapter's own quote on the state read from chain.
    state = chain_run(
        "localnet",
        lambda rpc: RaydiumAmmV4().load_state(rpc=rpc, address=Pubkey.from_string(
            str(seeded.raydium.amm))),
    )  # fmt: skip
    quote = RaydiumAmmV4().quote(state=state, side=Side.BUY, amount_in=mean)
    net_in = mean - ceil_div(mean * 25, 10_000)
    assert quote.amount_out == TOKENS * net_in // (SOL_RESERVE + net_in)


@pytest.mark.django_db
def test_it_estimates_a_raydium_cpmm_pool_from_its_vaults_and_trade_fee(alice, alice_api, localnet):
    seeded = seed_token(
        localnet.cluster, raydium_reserves=None, cpmm_reserves=(TOKENS, SOL_RESERVE)
    )
    token = token_register(owner=alice, network="localnet", mint=str(seeded.mint))
    selection = pool_select(owner=alice, token_id=token.pk, address=str(seeded.cpmm.pool))
    funding = WalletFactory(owner=alice, keypair=seeded.wallets[0])
    campaign = campaign_create(
        owner=alice, name="CPMM", token_id=token.pk, pool_id=selection.pool_id,
        funding_wallet_id=funding.pk,
        params={**PARAMS, "trade_size_min_sol": "0.5", "trade_size_max_sol": "1.5",
                "maker_funding_sol": "2", "target_volume_sol": "25"},
    )  # fmt: skip

    response = alice_api.post(f"/v1/campaigns/{campaign.pk}/estimate")

    assert response.status_code == 200
    body = response.json()
    # 0.25 % = trade_fee_rate 2500 millionths; the reserves are the vaults (no fees owed yet).
    assert body["pool"] == {
        "sol_reserve_lamports": SOL_RESERVE, "token_reserve_raw": TOKENS, "fee_bps": 25,
    }  # fmt: skip
    assert body["round_trip_cost_lamports"] == round_trip(SOL, SOL_RESERVE, TOKENS, 25)
    state = chain_run(
        "localnet",
        lambda rpc: RaydiumCpmm().load_state(rpc=rpc, address=seeded.cpmm.pool),
    )
    quote = RaydiumCpmm().quote(state=state, side=Side.BUY, amount_in=SOL)
    net_in = SOL - ceil_div(SOL * 2_500, 1_000_000)
    assert quote.amount_out == TOKENS * net_in // (SOL_RESERVE + net_in)


@pytest.mark.django_db
def test_it_estimates_unsaved_changes_without_saving_them(alice_api, localnet_campaign):
    campaign = localnet_campaign()

    response = alice_api.post(
        f"/v1/campaigns/{campaign.pk}/estimate", {"params": {"target_volume_sol": "20"}}
    )

    assert response.json()["trades"] == 667  # 20 SOL / 0.03 SOL, rounded up
    campaign.refresh_from_db()
    assert campaign.params["target_volume_lamports"] == 10 * SOL


@pytest.mark.django_db
def test_it_checks_the_funding_balance_on_the_localnet(alice, localnet_campaign):
    empty = WalletFactory(owner=alice, keypair=Keypair())
    poor = localnet_campaign(wallet=empty)
    rich = localnet_campaign()

    with pytest.raises(
        InsufficientFunds, match=r"holds 0 SOL but this campaign needs 1\.50005 SOL"
    ):
        campaign_start(campaign_id=poor.pk, actor=alice)
    started = campaign_start(campaign_id=rich.pk, actor=alice)

    assert started.status == "active"
    assert list(CampaignRun.objects.values_list("campaign_id", flat=True)) == [rich.pk]


@pytest.mark.django_db
def test_it_says_when_the_pool_cannot_be_priced(alice_api, alice_setup, localnet):
    campaign = make_campaign(alice_setup)  # its pool address holds nothing on the localnet

    response = alice_api.post(f"/v1/campaigns/{campaign.pk}/estimate")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "pool_unavailable"
    assert response.json()["error"]["message"].startswith("The pool cannot be priced: ")


@pytest.mark.django_db
def test_it_adds_guardrail_warnings_and_refuses_unsaved_params_beyond_the_limits(
    alice_api, localnet_campaign
):
    campaign = localnet_campaign()
    url = f"/v1/campaigns/{campaign.pk}/estimate"

    warned = alice_api.post(url, {"params": {"slippage_bps": 500}})
    refused = alice_api.post(url, {"params": {"slippage_bps": 5000}})

    assert warned.status_code == 200
    assert [w["field"] for w in warned.json()["warnings"]] == ["params.slippage_bps"]
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {
        "params.slippage_bps": ["At most 1000 bps: higher slippage is refused by the platform."]
    }


@pytest.mark.django_db
@pytest.mark.parametrize("venue", ["pumpfun", "pumpswap"])
def test_it_prices_pump_venues_with_their_tiered_fees(alice, alice_api, localnet, venue):
    # A live curve: its virtual reserves and the first fee tier (0.95 % + 0.30 % creator);
    # a migrated coin's canonical PumpSwap pool: its vaults and tier (0.02 + 0.93 + 0.30 %).
    if venue == "pumpfun":
        seeded = seed_token(localnet.cluster, raydium_reserves=None)
        address, expected = (
            seeded.pumpfun.curve,
            {
                "sol_reserve_lamports": 30_000_000_000,
                "token_reserve_raw": 1_073_000_000_000_000,
                "fee_bps": 125,
            },
        )
    else:
        seeded = seed_token(localnet.cluster, raydium_reserves=None, pumpfun_curve=migrated_curve())
        pool = seed_pumpswap_pool(
            localnet.cluster, mint=seeded.mint, base_reserve=TOKENS, quote_reserve=SOL_RESERVE,
            coin_creator=seeded.pumpfun.creator,
        )  # fmt: skip
        address, expected = pool.pool, {
            "sol_reserve_lamports": SOL_RESERVE, "token_reserve_raw": TOKENS, "fee_bps": 125,
        }  # fmt: skip
    token = token_register(owner=alice, network="localnet", mint=str(seeded.mint))
    selection = pool_select(owner=alice, token_id=token.pk, address=str(address))
    campaign = campaign_create(
        owner=alice, name="Pump", token_id=token.pk, pool_id=selection.pool_id,
        funding_wallet_id=WalletFactory(owner=alice, keypair=seeded.wallets[0]).pk, params=PARAMS,
    )  # fmt: skip

    response = alice_api.post(f"/v1/campaigns/{campaign.pk}/estimate")

    assert response.status_code == 200
    assert selection.pool.dex == venue
    assert response.json()["pool"] == expected
