"""The create wizard: pools for the chosen token, as-you-type validation and guardrail
warnings, the review step (every rule of campaign_create, nothing saved) and the create."""

import pytest
from django.urls import reverse

from apps.campaigns.models import Campaign, CampaignRun
from apps.core.models import AuditEvent
from tests.support.campaigns import PARAMS, SOL, Setup

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def wizard_data(setup: Setup, **changes) -> dict:
    data = {
        "name": "Launch week",
        "token": setup.token.pk,
        "pool": setup.pool.pk,
        "funding_wallet": setup.wallet.pk,
        **{key: str(value) for key, value in PARAMS.items()},
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_it_tells_a_user_without_tokens_or_wallets_what_to_do_first(alice_client):
    page = alice_client.get(reverse("campaigns:new")).content.decode()

    assert "A few things first" in page
    assert reverse("tokens:register") in page and reverse("wallets:add") in page


def test_it_renders_the_wizard_steps_with_the_owners_choices(alice_client, alice_setup, bob):
    bob_setup = Setup(bob)

    response = alice_client.get(reverse("campaigns:new"))

    page = response.content.decode()
    for step in ("1 · Token", "2 · Pool", "3 · Funding wallet", "4 · Parameters", "5 · Review"):
        assert step in page
    fields = response.context["form"].fields
    tokens = [str(value) for value, _ in fields["token"].choices]
    wallets = [str(value) for value, _ in fields["funding_wallet"].choices]
    assert str(alice_setup.token.pk) in tokens and str(bob_setup.token.pk) not in tokens
    assert str(alice_setup.wallet.pk) in wallets and str(bob_setup.wallet.pk) not in wallets
    assert f'<option value="{alice_setup.token.pk}"' in page
    assert "A few things first" not in page


def test_it_narrows_the_pools_to_the_chosen_token(alice_client, alice):
    first, second = Setup(alice), Setup(alice)
    url = reverse("campaigns:wizard_pools")

    fragment = alice_client.get(url, {"token": first.token.pk}, **HX).content.decode()
    page = alice_client.get(url, {"token": first.token.pk})

    assert fragment.lstrip().startswith('<div id="pool-field">')
    assert f'value="{first.pool.pk}"' in fragment
    assert f'value="{second.pool.pk}"' not in fragment
    assert page.status_code == 200 and "<html" in page.content.decode()


def test_it_checks_params_as_you_type_with_messages_beside_each_field(alice_client, alice_setup):
    url = reverse("campaigns:wizard_check")
    typo = wizard_data(alice_setup, maker_funding_sol="abc")
    crossed = wizard_data(alice_setup, trade_size_min_sol="0.2")

    typo_body = alice_client.post(url, typo, **HX).content.decode()
    body = alice_client.post(url, crossed, **HX).content.decode()

    assert typo_body.lstrip().startswith('<div id="wizard-check"')
    assert "Enter SOL as a decimal string, such as &quot;0.05&quot;." in typo_body
    assert '<div class="field-msg" id="msg-maker_funding_sol" hx-swap-oob="true"><small' in (
        typo_body
    )
    assert "Must be at least the smallest trade size." in body
    # Each field's slot comes out of band, the others emptied.
    assert '<div class="field-msg" id="msg-trade_size_max_sol" hx-swap-oob="true"><small ' in body
    assert '<div class="field-msg" id="msg-seed" hx-swap-oob="true"></div>' in body
    assert Campaign.objects.count() == 0


def test_it_shows_guardrail_warnings_without_refusing(alice_client, alice_setup, settings):
    settings.CAMPAIGN_WARN_SLIPPAGE_BPS = 300
    data = wizard_data(alice_setup, slippage_bps="500")

    body = alice_client.post(reverse("campaigns:wizard_check"), data, **HX).content.decode()

    assert "Guardrail warnings" in body
    assert "Fix these" not in body
    assert '<small class="warning">' in body


def test_it_says_when_the_params_pass(alice_client, alice_setup):
    body = alice_client.post(
        reverse("campaigns:wizard_check"), wizard_data(alice_setup), **HX
    ).content.decode()

    assert "These parameters pass every check." in body


def test_the_review_applies_every_create_rule_and_saves_nothing(alice_client, alice_setup):
    data = wizard_data(alice_setup, target_volume_sol="", name="")
    audits = AuditEvent.objects.count()

    body = alice_client.post(reverse("campaigns:wizard_review"), data, **HX).content.decode()

    assert body.lstrip().startswith('<div id="wizard-review">')
    assert "otherwise the campaign never ends on its own" in body
    assert "Create and start" not in body
    assert Campaign.objects.count() == 0 and AuditEvent.objects.count() == audits


def test_the_review_shows_the_summary_and_the_estimate_or_why_not(alice_client, alice_setup):
    body = alice_client.post(
        reverse("campaigns:wizard_review"), wizard_data(alice_setup), **HX
    ).content.decode()

    assert "Launch week" in body
    assert "3 \N{MULTIPLICATION SIGN} 0.500000000 SOL" in body
    assert 'id="estimate"' in body  # the pool is not on a chain here: the reason is shown
    assert "Create and start" in body
    assert 'name="confirm_start"' in body and "3 maker wallets get 0.500000000 SOL" in body
    assert Campaign.objects.count() == 0


def test_the_review_without_htmx_renders_the_page(alice_client, alice_setup):
    response = alice_client.post(reverse("campaigns:wizard_review"), wizard_data(alice_setup))

    assert response.status_code == 200
    assert "<html" in response.content.decode() and "Save as draft" in response.content.decode()


def test_it_creates_a_draft_and_goes_to_its_page(alice_client, alice_setup):
    response = alice_client.post(
        reverse("campaigns:new"), {**wizard_data(alice_setup), "intent": "draft"}
    )

    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:detail", args=[campaign.pk])
    assert (campaign.name, campaign.status) == ("Launch week", "draft")
    assert campaign.params["maker_funding_lamports"] == SOL // 2


def test_it_creates_and_starts_once_confirmed(alice_client, alice_setup, balances):
    balances.lamports[alice_setup.wallet.address] = 100 * SOL

    response = alice_client.post(
        reverse("campaigns:new"),
        {**wizard_data(alice_setup), "intent": "start", "confirm_start": "1"},
    )

    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:detail", args=[campaign.pk])
    assert campaign.status == "active"
    assert CampaignRun.objects.filter(campaign=campaign).count() == 1


@pytest.mark.parametrize("htmx", [False, True])
def test_it_refuses_to_start_without_the_confirmation(alice_client, alice_setup, balances, htmx):
    balances.lamports[alice_setup.wallet.address] = 100 * SOL

    response = alice_client.post(
        reverse("campaigns:new"), {**wizard_data(alice_setup), "intent": "start"},
        **(HX if htmx else {}),
    )  # fmt: skip

    assert response.status_code == (200 if htmx else 400)
    assert "Tick “Start now” to confirm, or save as a draft." in response.content.decode()
    assert Campaign.objects.count() == 0 and CampaignRun.objects.count() == 0
    assert balances.calls == 0


def test_a_start_without_funds_keeps_the_draft_and_says_why(alice_client, alice_setup, balances):
    response = alice_client.post(
        reverse("campaigns:new"),
        {**wizard_data(alice_setup), "intent": "start", "confirm_start": "1"},
        follow=True,
    )

    campaign = Campaign.objects.get()
    assert campaign.status == "draft"
    assert CampaignRun.objects.count() == 0
    assert "did not start" in response.content.decode()
    assert "SOL short" in response.content.decode()


def test_it_puts_create_errors_on_their_fields(alice_client, alice_setup, bob):
    other = Setup(bob)
    data = wizard_data(alice_setup, funding_wallet=other.wallet.pk, maker_count="0")

    plain = alice_client.post(reverse("campaigns:new"), {**data, "intent": "draft"})
    htmx = alice_client.post(reverse("campaigns:new"), {**data, "intent": "draft"}, **HX)

    assert plain.status_code == 400
    assert "Between 1 and 10000 maker wallets." in plain.content.decode()
    assert htmx.status_code == 200
    assert htmx.content.decode().lstrip().startswith('<form method="post"')
    assert "Between 1 and 10000 maker wallets." in htmx.content.decode()
    assert Campaign.objects.count() == 0


@pytest.mark.parametrize(("choice", "stored"), [("true", True), ("false", False)])
def test_it_asks_what_to_do_when_a_pumpfun_curve_completes(
    alice_client, alice_setup, choice, stored
):
    page = alice_client.get(reverse("campaigns:new")).content.decode()
    assert "When the pump.fun curve completes" in page
    assert '<option value="true" selected>Trade on its PumpSwap pool</option>' in page

    alice_client.post(
        reverse("campaigns:new"),
        {**wizard_data(alice_setup), "intent": "draft", "follow_migration": choice},
    )

    assert Campaign.objects.get().params["follow_migration"] is stored


def test_the_review_quotes_the_cost_per_sol_and_per_100k_at_the_price_given(alice_client, setup):
    data = wizard_data(setup, sol_price_usd="200")

    body = alice_client.post(reverse("campaigns:wizard_review"), data, **HX).content.decode()

    assert 'id="estimate-per-sol"' in body and "Cost per 1 SOL of volume" in body
    assert 'Rent not returned</dt><dd class="num">0.000000000 SOL' in body
    # 0.002646385 SOL per SOL of volume on the seeded pool; $100K is 500 SOL at $200.
    assert "<strong>0.002646385 SOL</strong>" in body
    assert "$264.64 = 1.323192500 SOL at $200/SOL</dd>" in body
    # The plan's price impact: one buy, the highest its net buys take the price, the end.
    assert 'id="estimate-price-impact"' in body and "Expected price impact" in body
    assert '<dt>Highest during the run</dt><dd class="num">+0.3033 %</dd>' in body
    assert Campaign.objects.count() == 0


def test_the_review_refuses_a_price_that_is_not_positive(alice_client, setup):
    data = wizard_data(setup, sol_price_usd="-3")

    body = alice_client.post(reverse("campaigns:wizard_review"), data, **HX).content.decode()

    assert "Ensure this value is greater than or equal to 0.01." in body
    assert "/SOL</dd>" not in body
    assert Campaign.objects.count() == 0
