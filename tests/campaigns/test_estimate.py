"""The cost estimate: pure maths, and the endpoint against a pool seeded on the localnet,
checked against constant-product maths recomputed here."""

from dataclasses import replace
from fractions import Fraction

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from apps.campaigns.domain import Params
from apps.campaigns.estimate import (
    TRADE_COMPUTE_UNITS,
    cost_per_usd_volume,
    estimate,
    mean_trade_lamports,
)
from apps.campaigns.models import CampaignRun
from apps.campaigns.params import params_from_input
from apps.campaigns.plan_replay import PoolReserves, round_trip_cost
from apps.campaigns.services import InsufficientFunds, campaign_create, campaign_start
from apps.chain.dex.base import Side
from apps.chain.dex.raydium_amm_v4 import RaydiumAmmV4
from apps.chain.dex.raydium_cpmm import RaydiumCpmm
from apps.core.chain import chain_run
from apps.execution.domain import plan_config
from apps.execution.planner import PlanConfig, PlanState, next_trade
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


def plan_of(p: Params) -> PlanConfig:
    """The run's planner config, as the engine builds it (seed, busy time, target as cap)."""
    return plan_config(params=p, seed=p.seed, busy_ms=3_000,
                       volume_cap_lamports=p.target_volume_lamports,
                       min_last_lamports=1_000_000)  # fmt: skip


def walk(p: Params, sol: int, tokens: int, fee_bps: int, window_ms: int | None = None) -> dict:
    """The plan's trades on x·y=k (fee from the input, kept in the pool), written out here: the
    planner's stream, topped up while the volume is short of the target (what fees took), then
    every maker's leftover tokens sold."""
    config = plan_of(p)
    state = PlanState.start(config)
    held, out = [0] * config.wallets, {"buys": 0, "sells": 0, "gather": 0, "volume": 0}
    start_sol, start_tokens, peak = sol, tokens, Fraction(sol, tokens)
    target = p.target_volume_lamports
    while True:
        trade = next_trade(config, state)
        if trade is None:
            if target is None or out["volume"] >= target:
                break
            room = max(target - out["volume"], 2_000_000)
            config = replace(config, volume_cap_lamports=state.planned_lamports + room)
            continue
        if window_ms is not None and trade.at_ms >= window_ms:
            break
        if trade.side == "buy":
            net = trade.lamports - ceil_div(trade.lamports * fee_bps, 10_000)
            got = tokens * net // (sol + net)
            sol, tokens = sol + trade.lamports, tokens - got
            held[trade.wallet] += got
            out["buys"] += 1
            out["volume"] += trade.lamports
        else:
            net = held[trade.wallet] - ceil_div(held[trade.wallet] * fee_bps, 10_000)
            got = sol * net // (tokens + net)
            sol, tokens = sol - got, tokens + held[trade.wallet]
            held[trade.wallet] = 0
            out["sells"] += 1
            out["volume"] += got
        peak = max(peak, Fraction(sol, tokens))
    out["plan_end"] = Fraction(sol, tokens)
    for amount in filter(None, held):
        net = amount - ceil_div(amount * fee_bps, 10_000)
        got = sol * net // (tokens + net)
        sol, tokens = sol - got, tokens + amount
        out["gather"] += 1
        out["volume"] += got
    start = Fraction(start_sol, start_tokens)
    out["impact"] = sol - start_sol  # what the pool kept: the run's loss to it
    out["peak_ppm"] = int((peak / start - 1) * 1_000_000)
    out["plan_end_ppm"] = int((out["plan_end"] / start - 1) * 1_000_000)
    return out


def test_it_replays_the_runs_plan_on_the_curve_and_counts_every_transaction():
    p = params(
        trade_size_min_sol="0.02", trade_size_max_sol="0.04", target_volume_sol="3",
        priority_fee_micro_lamports=50_000, buy_percent=60,
    )  # fmt: skip
    pool = PoolReserves(sol_reserve_lamports=100 * SOL, token_reserve_raw=10**15, fee_bps=25,
                        trade_compute_units=43_000)  # fmt: skip

    result = estimate(params=p, pool=pool, plan=plan_of(p))

    plan = walk(p, 100 * SOL, 10**15, 25)
    trades = plan["buys"] + plan["sells"]
    priority = ceil_div(50_000 * 43_000, 1_000_000)  # micro-lamports/CU * the venue's CU limit
    # 3 makers: one distribution batch (3 transfers) and one sweep that empties all three,
    # signed by each of them and by the funding wallet; leftover tokens each need a
    # 2-signature sell too.
    setup = (5_000 + ceil_div(50_000 * (1_300 + 3 * 150), 1_000_000)
             + 4 * 5_000 + 3 * ceil_div(50_000 * 20_000, 1_000_000)
             + plan["gather"] * (10_000 + priority))  # fmt: skip
    assert plan["buys"] > plan["sells"] > 0  # 60 % buys: makers sell several buys at once
    assert (result.trades, result.buys, result.sells) == (
        trades,
        plan["buys"],
        plan["sells"] + plan["gather"],
    )
    assert result.mean_trade_lamports == 30_000_000
    assert result.volume_lamports == plan["volume"] >= 3 * SOL
    assert result.fee_per_trade_lamports == 5_000 + priority
    assert result.network_fees_lamports == trades * 5_000
    assert result.priority_fees_lamports == trades * priority
    assert result.tips_lamports == 0
    assert result.round_trip_cost_lamports == round_trip(30_000_000, 100 * SOL, 10**15, 25)
    assert result.price_impact_lamports == plan["impact"]
    assert result.setup_fees_lamports == setup
    assert result.total_cost_lamports == trades * (5_000 + priority) + plan["impact"] + setup
    assert result.sol_needed_upfront_lamports == 3 * SOL // 2 + 50_000
    assert result.warnings == []
    volume, total = plan["volume"], result.total_cost_lamports
    assert result.per_sol_volume_lamports == {
        "network_fees": ceil_div(trades * 5_000 * SOL, volume),
        "priority_fees": ceil_div(trades * priority * SOL, volume), "tips": 0,
        "price_impact": ceil_div(plan["impact"] * SOL, volume),
        "setup_fees": ceil_div(setup * SOL, volume), "rent_not_returned": 0,
        "total": ceil_div(total * SOL, volume),
    }  # fmt: skip
    assert result.cost_per_100k_usd_cents == ceil_div(total * 10_000_000, volume)


def test_it_shows_how_far_the_plan_moves_the_price():
    # One maker that only buys until the target's half is bought, then sells it all back: the
    # price peaks after the last buy and ends (almost) where it started.
    p = params(maker_count=1, buy_percent=100, trade_size_min_sol="0.1",
               trade_size_max_sol="0.2", target_volume_sol="2", maker_funding_sol="2")  # fmt: skip
    sol, tokens = 10 * SOL, 10**12
    pool = PoolReserves(sol_reserve_lamports=sol, token_reserve_raw=tokens, fee_bps=25)

    moves = estimate(params=p, pool=pool, plan=plan_of(p)).price_move_ppm

    plan = walk(p, sol, tokens, 25)
    mean = 150_000_000
    net = mean - ceil_div(mean * 25, 10_000)
    after_one = Fraction(sol + mean, tokens - tokens * net // (sol + net))
    assert moves["mean_buy"] == int((after_one / Fraction(sol, tokens) - 1) * 1_000_000)
    assert 29_000 < moves["mean_buy"] < 31_000  # 1.5 % of the SOL side: about +3 % price
    assert moves["plan_peak"] == plan["peak_ppm"]
    # A whole SOL bought into a 10 SOL pool: about (11/10)^2 - 1 = +21 %.
    assert 200_000 < moves["plan_peak"] < 215_000
    assert moves["plan_end"] == plan["plan_end_ppm"] == moves["after_gather"]
    assert 0 < moves["plan_end"] < 10_000  # only the fees the pool kept


def test_buys_a_maker_cannot_pay_are_skipped_as_the_engine_skips_them():
    # One maker with 0.3 SOL that only buys, 0.1 SOL at a time, for a minute (20 buys
    # planned): two fit (each pays its fee, the first the token account's rent, and a reserve
    # stays behind); the gather sells what they bought.
    p = params(maker_count=1, buy_percent=100, trade_size_min_sol="0.1",
               trade_size_max_sol="0.1", target_volume_sol=None, duration_seconds=60,
               maker_funding_sol="0.3")  # fmt: skip

    result = estimate(params=p, pool=PoolReserves(100 * SOL, 10**15, 25), plan=plan_of(p))

    assert (result.buys, result.sells, result.trades) == (2, 1, 2)
    assert SOL * 2 // 5 - SOL // 100 < result.volume_lamports < SOL * 2 // 5


def test_pump_venues_take_the_fee_on_the_sol_leg_outside_the_curve():
    sol, tokens, size = 30 * SOL, 10**15, SOL
    pool = PoolReserves(sol_reserve_lamports=sol, token_reserve_raw=tokens, fee_bps=125,
                        fee_on_sol=True)  # fmt: skip

    cost = round_trip_cost(size_lamports=size, pool=pool)

    net = size * 10_000 // 10_125  # the buy's budget pays the curve and 1.25 % on top
    bought = tokens * net // (sol + net)
    gross = (sol + net) * bought // tokens
    assert cost == size - (gross - ceil_div(gross * 125, 10_000))


def test_the_cost_of_dollar_volume_takes_the_sol_it_needs_at_the_given_price():
    # 0.5 % of the volume at $200/SOL: $100K is 500 SOL of volume, which costs 2.5 SOL.
    assert (
        cost_per_usd_volume(
            cost_per_sol_volume_lamports=5_000_000, usd_volume=100_000, sol_price_usd_cents=20_000
        )
        == 2_500_000_000
    )
    with pytest.raises(ValueError, match="price must be positive"):
        cost_per_usd_volume(
            cost_per_sol_volume_lamports=1, usd_volume=100_000, sol_price_usd_cents=0
        )


def test_without_a_volume_there_is_no_cost_per_volume():
    untargeted = {name: value for name, value in PARAMS.items() if name != "target_volume_sol"}
    p = Params.from_json(params_from_input(untargeted))
    pool = PoolReserves(sol_reserve_lamports=100 * SOL, token_reserve_raw=10**15, fee_bps=25)

    result = estimate(params=p, pool=pool, plan=plan_of(p))

    assert (result.trades, result.per_sol_volume_lamports) == (None, None)
    assert result.cost_per_100k_usd_cents is None
    assert list(result.price_move_ppm) == ["mean_buy"]


def test_it_counts_jito_tips_and_warns_when_the_budget_runs_out_first():
    p = params(
        execution_mode="jito", jito_region="ny", jito_tip_min_lamports=10_000,
        jito_tip_max_lamports=30_000, budget_cap_sol="0.01",
    )  # fmt: skip
    pool = PoolReserves(sol_reserve_lamports=100 * SOL, token_reserve_raw=10**15, fee_bps=25)

    result = estimate(params=p, pool=pool, plan=plan_of(p))

    assert result.tip_per_trade_lamports == 20_000
    assert result.tips_lamports == result.trades * 20_000
    trading = (result.network_fees_lamports + result.tips_lamports
               + result.price_impact_lamports)  # fmt: skip
    per_trade = ceil_div(trading, result.trades)
    assert result.trades_within_budget == (SOL // 100 - result.setup_fees_lamports) // per_trade
    assert [w.field for w in result.warnings] == ["params.budget_cap_sol"]
    assert result.warnings[0].message.startswith(
        f"The budget cap runs out after about {result.trades_within_budget} trades"
    )


def test_it_uses_the_window_when_there_is_no_target():
    p = params(target_volume_sol=None, duration_seconds=3600)
    pool = PoolReserves(SOL, 10**12, 25)

    result = estimate(params=p, pool=pool, plan=plan_of(p))

    plan = walk(p, SOL, 10**12, 25, window_ms=3_600_000)
    assert result.trades == plan["buys"] + plan["sells"]
    # One trade in flight at a time (the default cap), each busy for 3 s: 1,200 in an hour.
    assert result.trades == 1_200
    # What the makers still hold when the window ends is sold by the gather.
    assert result.sells == plan["sells"] + plan["gather"]
    assert result.price_impact_lamports == plan["impact"]


def test_it_warns_when_the_window_ends_before_the_target():
    p = params(target_volume_sol="100", duration_seconds=60)

    result = estimate(params=p, pool=PoolReserves(100 * SOL, 10**15, 25), plan=plan_of(p))

    assert [w.field for w in result.warnings] == ["params.target_volume_sol"]
    assert result.warnings[0].message.startswith(
        f"At this cadence the window ends after about {result.trades} trades"
    )


def test_a_long_plan_is_replayed_in_part_and_scaled_to_its_target():
    p = params(target_volume_sol="1000", maker_funding_sol="0.5")  # ~33,000 trades of 0.03 SOL

    result = estimate(params=p, pool=PoolReserves(10**6 * SOL, 10**18, 25), plan=plan_of(p))

    assert result.buys + result.sells > 5_000  # more than the replay walked
    assert 1000 * SOL <= result.volume_lamports <= 1010 * SOL
    # 0.25 % of every swap stays in the deep pool.
    assert abs(result.price_impact_lamports - result.volume_lamports // 400) < SOL // 100


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
    # Makers rich enough that no buy is skipped (`walk` does not skip any).
    campaign = localnet_campaign(trade_size_min_sol="0.5", trade_size_max_sol="1.5",
                                 maker_funding_sol="10", target_volume_sol="25")  # fmt: skip

    response = alice_api.post(f"/v1/campaigns/{campaign.pk}/estimate")

    assert response.status_code == 200
    body = response.json()
    assert body["pool"] == {
        "sol_reserve_lamports": SOL_RESERVE, "token_reserve_raw": TOKENS, "fee_bps": 25,
        "fee_on_sol": False, "trade_compute_units": TRADE_COMPUTE_UNITS["raydium_amm_v4"],
    }  # fmt: skip
    mean = SOL
    plan = walk(Params.from_json(campaign.params), SOL_RESERVE, TOKENS, 25)
    trades = plan["buys"] + plan["sells"]
    setup = 5_000 + 4 * 5_000 + plan["gather"] * 10_000  # one sweep of 3 makers; no priority
    assert body["mean_trade_lamports"] == mean
    assert (body["trades"], body["buys"], body["sells"]) == (
        trades,
        plan["buys"],
        plan["sells"] + plan["gather"],
    )
    assert body["round_trip_cost_lamports"] == round_trip(mean, SOL_RESERVE, TOKENS, 25)
    assert body["price_impact_lamports"] == plan["impact"]
    assert body["network_fees_lamports"] == trades * 5_000
    assert body["setup_fees_lamports"] == setup
    assert body["sol_needed_upfront_lamports"] == 3 * 10 * SOL + 5_000 + 45_000
    assert body["total_cost_lamports"] == trades * 5_000 + plan["impact"] + setup
    assert body["price_move_ppm"]["plan_peak"] == plan["peak_ppm"] > 0
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
        "fee_on_sol": False, "trade_compute_units": TRADE_COMPUTE_UNITS["raydium_cpmm"],
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

    plan = walk(params(target_volume_sol="20"), SOL_RESERVE, TOKENS, 25)
    assert response.json()["trades"] == plan["buys"] + plan["sells"]
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
    assert response.json()["pool"] == {
        **expected,
        "fee_on_sol": True,
        "trade_compute_units": TRADE_COMPUTE_UNITS[venue],
    }
