"""The price-band guardrail: checked with the pool's live price before each planner window; a
run whose own buys push the price past the band is paused with the reason."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest

from apps.campaigns.domain import Params, price_band_breach
from apps.campaigns.models import Campaign, CampaignRun
from apps.core.prices import PoolPrice, price_store
from apps.execution.models import Execution
from apps.execution.prices import pool_price
from tests.support.engine import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

BAND = {
    "price_band_percent": 1,
    "buy_percent": 100,
    "maker_funding_sol": "3",
    "trade_size_min_sol": "0.5",
    "trade_size_max_sol": "1",
    "target_volume_sol": "50",
}


def test_a_run_whose_buys_move_the_price_past_the_band_is_paused(setup, workers):
    campaign = setup.campaign(dex="raydium_cpmm", **BAND)
    start = pool_price(pool=setup.pools["raydium_cpmm"]).lamports_per_token
    run = setup.start(campaign)

    wait_for(lambda: Campaign.objects.get(pk=campaign.pk).status == "paused", timeout=60,
             what="the band to pause the run")  # fmt: skip

    campaign.refresh_from_db()
    run.refresh_from_db()
    assert campaign.status_reason.startswith("Price band: the price moved ")
    assert campaign.status_reason.endswith("more than the 1 % allowed.")
    assert run.status == "paused" and run.status_reason == campaign.status_reason
    assert Fraction(run.summary["price_start"]) == start
    # Buys only: the price went up, by more than the band, through the run's own trades.
    now = pool_price(pool=setup.pools["raydium_cpmm"]).lamports_per_token
    assert (now - start) * 100 / start > 1
    assert run.trades_succeeded >= 1
    executions = Execution.objects.filter(run=run).count()
    time.sleep(2.5)  # two planner windows
    assert Execution.objects.filter(run=run).count() == executions


def test_the_engine_takes_the_subscribers_fresh_price(setup, workers, settings):
    pool = setup.pools["raydium_cpmm"]
    ceiling = "0.000001"  # SOL per token, far above the seeded price
    campaign = setup.campaign(dex="raydium_cpmm", price_ceiling_sol=ceiling)
    # The subscriber's latest price says the pool is above the ceiling: the first window
    # pauses before any trade is planned, without reading the pool itself.
    price_store(network=pool.network, address=pool.address,
                price=PoolPrice(price_sol="0.000002", at=time.time()))  # fmt: skip
    run = setup.start(campaign)

    wait_for(lambda: Campaign.objects.get(pk=campaign.pk).status == "paused", timeout=30,
             what="the ceiling to pause the run")  # fmt: skip
    campaign.refresh_from_db()
    assert campaign.status_reason == (
        "Price band: one token is worth 0.000002 SOL, above the ceiling of 0.000001 SOL."
    )
    assert CampaignRun.objects.get(pk=run.pk).trades_succeeded == 0

    # A stale price is never used: the pool is read again.
    price_store(network=pool.network, address=pool.address,
                price=PoolPrice(price_sol="0.000002", at=time.time() - 60))  # fmt: skip
    assert pool_price(pool=pool).price_sol != "0.000002"


def _params(**band) -> Params:
    return Params(**{**dict.fromkeys(Params.__dataclass_fields__), "follow_migration": True,
                     **band})  # fmt: skip


def test_the_band_rules():
    lamports = Fraction(400)  # 0.0000004 SOL per token
    assert price_band_breach(params=_params(), start=lamports, now=lamports * 10) is None
    floor = _params(price_floor_lamports=500)
    assert price_band_breach(params=floor, start=None, now=lamports) == (
        "Price band: one token is worth 0.0000004 SOL, below the floor of 0.0000005 SOL."
    )
    assert price_band_breach(params=floor, start=None, now=Fraction(500)) is None
    band = _params(price_band_percent=5)
    assert price_band_breach(params=band, start=lamports, now=Fraction(420)) is None  # exactly 5 %
    assert price_band_breach(params=band, start=lamports, now=Fraction(378)) == (
        "Price band: the price moved 5.5 % (from 0.0000004 to 0.000000378 SOL per token), more "
        "than the 5 % allowed."
    )
    assert price_band_breach(params=band, start=None, now=Fraction(1)) is None
