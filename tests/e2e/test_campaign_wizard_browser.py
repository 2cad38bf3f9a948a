"""The create wizard and the live campaign page in Chromium, against the ASGI application
(uvicorn in a thread, so the page's WebSocket works) and the localnet (a real Raydium pool, so
the review step shows a real estimate). Screenshots of the review step and the detail page,
light and dark, desktop and 375 px wide."""

from django.utils import timezone
from playwright.sync_api import expect

from apps.campaigns.models import Campaign
from apps.localnet.seed import seed_token
from apps.tokens.models import Pool, PoolSelection, Token, TokenLink
from tests.e2e.live_asgi import asgi_server, publish, shoot, toast_shown
from tests.factories import PASSWORD, UserFactory, WalletFactory
from tests.support.campaigns import make_trade

__all__ = ["asgi_server"]  # a fixture, used by name

WSOL = "So11111111111111111111111111111111111111112"


def test_it_creates_a_campaign_in_the_wizard_and_watches_it_live(
    asgi_server, localnet, page, screenshots
):
    user = UserFactory(email="erin@example.com")
    seeded = seed_token(localnet.cluster, pumpfun=False, symbol="ERIN", name="Erin Coin")
    token = Token.objects.create(
        network="localnet", mint=str(seeded.mint), program="spl", decimals=seeded.decimals,
        supply_raw=10**15, symbol="ERIN", name="Erin Coin",
    )  # fmt: skip
    TokenLink.objects.create(owner=user, token=token)
    pool = Pool.objects.create(
        network="localnet", token=token, dex="raydium_amm_v4", address=str(seeded.raydium.amm),
        quote_mint=WSOL, fetched_at=timezone.now(),
    )  # fmt: skip
    PoolSelection.objects.create(owner=user, pool=pool)
    wallet = WalletFactory(owner=user, label="Treasury", keypair=seeded.wallets[0])

    page.goto(f"{asgi_server}/accounts/signin/")
    page.get_by_label("E-mail", exact=True).first.fill("erin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    page.get_by_role("link", name="New campaign").first.click()
    page.get_by_role("heading", name="New campaign").wait_for()

    # token → pool (narrowed over HTMX) → wallet → params
    with page.expect_response(lambda response: "/campaigns/new/pools/" in response.url):
        page.get_by_label("Token", exact=True).select_option(str(token.pk))
    # The token's only pool is chosen for the user (once HTMX has swapped the response in:
    # the response arriving is not the swap having happened, so wait for the value).
    expect(page.get_by_label("Pool", exact=True)).to_have_value(str(pool.pk))
    page.get_by_label("Funding wallet").select_option(str(wallet.pk))
    page.get_by_label("Campaign name").fill("Erin launch")
    # As you type: a largest trade below the smallest is flagged beside the field.
    page.get_by_label("Largest trade (SOL)").fill("0.001")
    page.locator("#msg-trade_size_max_sol").get_by_text(
        "Must be at least the smallest trade size."
    ).wait_for()
    page.get_by_label("Largest trade (SOL)").fill("0.05")
    page.get_by_label("Target volume (SOL)").fill("2")
    page.get_by_text("These parameters pass every check.").wait_for()

    page.get_by_role("button", name="Review", exact=True).click()
    page.locator("#estimate").get_by_text("Total cost").wait_for()
    shoot(page, screenshots, "review")

    page.get_by_label("Start now").check()
    page.get_by_role("button", name="Create and start").click()
    page.get_by_role("heading", name="Erin launch").wait_for()
    campaign = Campaign.objects.get(name="Erin launch")
    assert campaign.status == "active"
    page.locator("#live-indicator.is-live").wait_for()
    toast_shown(page, "Created and started “Erin launch”.")

    # A trade lands (rows as the engine writes them) and its event arrives: the row shows
    # without a reload.
    run = campaign.current_run
    trades = [make_trade(run, side=side) for side in ("buy", "sell", "buy")]
    publish(
        f"campaign.{campaign.pk}",
        {"type": "campaign.event", "event": "job_completed", "campaign_id": campaign.pk,
         "run_id": run.pk, "job_id": trades[-1].job_id, "job_type": "trade_buy",
         "status": "succeeded", "signature": trades[-1].signature},
    )  # fmt: skip
    page.locator(f"#trade-{trades[-1].pk}").wait_for()
    # The event's trade is the feed's newest row (an event carries its own row only; the
    # other two show when their own events come, or in the snapshot of a socket that
    # connected after they were written, so how many rows there are is not fixed here).
    expect(page.locator("#trade-feed-rows tr").first).to_have_id(f"trade-{trades[-1].pk}")
    page.locator("#stat-volume").get_by_text("0.060000000 SOL").wait_for()
    # The periodic `stats` event redraws the charts.
    publish(
        f"campaign.{campaign.pk}",
        {"type": "campaign.event", "event": "stats", "campaign_id": campaign.pk,
         "run_id": run.pk, "jobs": {"succeeded": 3}},
    )  # fmt: skip
    page.locator("#run-charts svg.chart").first.wait_for()
    assert page.locator("#run-charts svg.chart").count() == 2
    shoot(page, screenshots, "detail")

    # Pause with its confirmation: the head partial swaps and a toast says so.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Pause").click()
    page.locator("#campaign-status").get_by_text("Paused").wait_for()
    toast_shown(page, "Paused “Erin launch”.")
    campaign.refresh_from_db()
    assert campaign.status == "paused"
