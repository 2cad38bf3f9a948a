"""Platform guardrails on create, update and start, and the start checks (pause-all, daily cap,
funding). Every refusal checks its message and that nothing happened."""

import pytest
from django.utils import timezone

from apps.accounts.models import User
from apps.admin_ops.models import Alert
from apps.campaigns.models import Campaign, CampaignRun
from apps.campaigns.services import campaign_create, campaign_resume, campaign_start
from apps.core.errors import Conflict, ValidationFailed
from apps.core.models import AuditEvent
from apps.execution.models import Job
from apps.wallets.services import wallet_delete
from tests.factories import (
    ExecutionFactory,
    JobFactory,
    MintRuleFactory,
    SystemSwitchFactory,
    WalletFactory,
)
from tests.support.campaigns import PARAMS, REQUIRED_LAMPORTS, SOL, Setup, make_campaign

pytestmark = pytest.mark.django_db


def audit_count() -> int:
    return AuditEvent.objects.filter(action__startswith="campaign.").count()


def assert_unchanged(campaign, *, status: str, audits: int, callbacks, alert: str = "") -> None:
    """The campaign is as it was: same status, no run, no job, no audit row, no event. A
    refusal by a platform limit raises one guardrail alert (its notices are the only events)."""
    campaign.refresh_from_db()
    assert campaign.status == status
    assert not CampaignRun.objects.filter(campaign=campaign).exists()
    assert not Job.objects.filter(run__campaign=campaign).exists()
    assert audit_count() == audits
    if alert:
        assert_guardrail_alert(campaign, callbacks=callbacks, message=alert)
    else:
        assert callbacks == []
        assert not Alert.objects.exists()


def assert_guardrail_alert(campaign, *, callbacks, message: str) -> None:
    """One guardrail alert for the owner; its notices (owner, operators) and its event are the
    only things published."""
    [raised] = Alert.objects.all()
    assert (raised.kind, raised.user, raised.campaign) == ("guardrail", campaign.owner, campaign)
    assert raised.message == f"Start of “{campaign.name}” refused: {message}"
    operators = User.objects.filter(is_staff=True).exclude(pk=campaign.owner_id).count()
    emitted = [c for c in callbacks if c.__qualname__.startswith("emit.")]
    assert (len(emitted), len(callbacks)) == (1, 1 + 1 + operators)


def create(setup, **params):
    return campaign_create(owner=setup.user, name="C", params={**PARAMS, **params}, **setup.refs())


@pytest.mark.parametrize(
    ("overrides", "params", "field", "message"),
    [
        ({}, {"slippage_bps": 1001}, "params.slippage_bps",
         "At most 1000 bps: higher slippage is refused by the platform."),
        ({"CAMPAIGN_MIN_TRADE_LAMPORTS": 20_000_000}, {}, "params.trade_size_min_sol",
         "At least 0.02 SOL (platform limit)."),
        ({"CAMPAIGN_MAX_TRADE_LAMPORTS": 40_000_000}, {}, "params.trade_size_max_sol",
         "At most 0.04 SOL (platform limit)."),
        ({"CAMPAIGN_MAX_MAKERS": 2}, {}, "params.maker_count",
         "Between 1 and 2 maker wallets (platform limit)."),
        ({"CAMPAIGN_MIN_MAKERS": 5}, {}, "params.maker_count",
         "Between 5 and 100 maker wallets (platform limit)."),
        ({"CAMPAIGN_USER_DAILY_VOLUME_CAP_LAMPORTS": 50 * SOL}, {"daily_volume_cap_sol": "60"},
         "params.daily_volume_cap_sol", "At most 50 SOL per day (platform limit per user)."),
    ],
)  # fmt: skip
def test_it_refuses_params_beyond_the_platform_limits(
    alice_setup, settings, overrides, params, field, message
):
    for name, value in overrides.items():
        setattr(settings, name, value)

    with pytest.raises(ValidationFailed) as error:
        create(alice_setup, **params)

    assert error.value.fields == {field: [message]}
    assert error.value.message == message
    assert not Campaign.objects.exists()
    assert audit_count() == 0


def test_it_warns_about_high_slippage_in_the_api_response(alice_api, alice_setup):
    response = alice_api.post(
        "/v1/campaigns",
        {"name": "Risky", **alice_setup.refs(), "params": {**PARAMS, "slippage_bps": 500}},
    )

    assert response.status_code == 201
    assert response.json()["warnings"] == [
        {
            "field": "params.slippage_bps",
            "message": "Slippage above 300 bps lets each trade lose that much to price moves "
            "and front-running.",
        }
    ]


def test_it_returns_no_warnings_under_the_soft_threshold(alice_api, alice_setup):
    response = alice_api.post(
        "/v1/campaigns", {"name": "Calm", **alice_setup.refs(), "params": PARAMS}
    )

    assert response.status_code == 201
    assert response.json()["warnings"] == []


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([("deny", True)], "This mint is on the platform's deny list and cannot be traded here."),
        ([("allow", False)], "This mint is not on the platform's allow list."),
    ],
)
def test_it_applies_the_mint_allow_and_deny_lists(alice_setup, rules, message):
    for kind, this_mint in rules:
        mint = (
            alice_setup.token.mint if this_mint else "So11111111111111111111111111111111111111112"
        )
        MintRuleFactory(mint=mint, kind=kind)

    with pytest.raises(ValidationFailed) as error:
        create(alice_setup)

    assert error.value.fields == {"token_id": [message]}
    assert not Campaign.objects.exists()


def test_it_allows_a_mint_on_the_allow_list(alice_setup):
    MintRuleFactory(mint=alice_setup.token.mint, kind="allow")

    assert create(alice_setup).status == "draft"


def test_it_refuses_mainnet_unless_allowed_and_attested(alice):
    setup = Setup(alice, network="mainnet-beta")
    message = (
        "Mainnet campaigns need an administrator's approval and your attestation of lawful use "
        "(see your profile)."
    )
    alice.mainnet_allowed = True  # allowed, but not attested yet
    alice.save()

    with pytest.raises(ValidationFailed) as error:
        create(setup)

    assert error.value.fields == {"token_id": [message]}
    assert not Campaign.objects.exists()
    alice.attested_at = timezone.now()
    alice.save()
    assert create(setup).network == "mainnet-beta"


@pytest.mark.parametrize(
    ("break_it", "field", "message"),
    [
        ("bob_token", "token_id", "Choose one of your registered tokens."),
        ("bob_pool", "pool_id", "Choose one of your selected pools."),
        ("other_token_pool", "pool_id",
         "This pool trades another token: choose a selected pool of this token."),
        ("bob_wallet", "funding_wallet_id",
         "Choose one of your custodial wallets (one with a key here)."),
        ("watch_wallet", "funding_wallet_id",
         "Choose one of your custodial wallets (one with a key here)."),
        ("inactive_wallet", "funding_wallet_id",
         "This wallet is inactive: activate it or choose another."),
    ],
)  # fmt: skip
def test_it_refuses_references_that_are_not_the_owners(
    alice, alice_setup, bob_setup, break_it, field, message
):
    refs = alice_setup.refs()
    if break_it == "bob_token":
        refs["token_id"] = bob_setup.token.pk
        refs["pool_id"] = bob_setup.pool.pk
    elif break_it == "bob_pool":
        refs["pool_id"] = bob_setup.pool.pk
    elif break_it == "other_token_pool":
        refs["pool_id"] = Setup(alice).pool.pk
    elif break_it == "bob_wallet":
        refs["funding_wallet_id"] = bob_setup.wallet.pk
    elif break_it == "watch_wallet":
        refs["funding_wallet_id"] = WalletFactory(owner=alice, kind="watch").pk
    else:
        alice_setup.wallet.active = False
        alice_setup.wallet.save()

    with pytest.raises(ValidationFailed) as error:
        campaign_create(owner=alice, name="C", params=PARAMS, **refs)

    fields = error.value.fields
    if break_it == "bob_token":  # bob's pool is then not alice's either
        assert fields == {field: [message], "pool_id": ["Choose one of your selected pools."]}
    else:
        assert fields == {field: [message]}
    assert not Campaign.objects.exists()


def test_it_applies_guardrails_on_update(
    alice_api, alice_setup, django_capture_on_commit_callbacks
):
    campaign = make_campaign(alice_setup)
    audits = audit_count()

    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_api.patch(
            f"/v1/campaigns/{campaign.pk}", {"params": {"slippage_bps": 2000}}
        )

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "validation_error",
        "message": "At most 1000 bps: higher slippage is refused by the platform.",
        "fields": {"params.slippage_bps": ["At most 1000 bps: higher slippage is refused by the "
                                           "platform."]},
    }  # fmt: skip
    before = campaign.params
    assert_unchanged(campaign, status="draft", audits=audits, callbacks=callbacks)
    assert campaign.params == before


def test_it_applies_todays_limits_again_on_start(
    alice_api, alice_setup, funded, settings, django_capture_on_commit_callbacks
):
    campaign = make_campaign(alice_setup, params={"slippage_bps": 500})
    settings.CAMPAIGN_MAX_SLIPPAGE_BPS = 400  # an operator tightened the limit since
    audits = audit_count()

    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_api.post(f"/v1/campaigns/{campaign.pk}/start")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "params.slippage_bps": ["At most 400 bps: higher slippage is refused by the platform."]
    }
    assert_unchanged(
        campaign, status="draft", audits=audits, callbacks=callbacks,
        alert="At most 400 bps: higher slippage is refused by the platform.",
    )  # fmt: skip


def test_it_refuses_to_start_while_an_operator_paused_everything(
    alice_api, alice_setup, funded, django_capture_on_commit_callbacks
):
    campaign = make_campaign(alice_setup)
    SystemSwitchFactory(name="pause_all", message="RPC incident")
    audits = audit_count()

    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_api.post(f"/v1/campaigns/{campaign.pk}/start")

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "paused_by_operator",
        "message": "An operator paused all campaigns (RPC incident): nothing can start or "
        "resume until they lift the pause.",
        "fields": {},
    }
    assert_unchanged(campaign, status="draft", audits=audits, callbacks=callbacks)


def test_it_refuses_to_resume_while_an_operator_paused_everything(alice_setup):
    campaign = make_campaign(alice_setup, status="paused")
    SystemSwitchFactory(name="pause_all")
    audits = audit_count()

    with pytest.raises(Conflict, match="An operator paused all campaigns: nothing can start"):
        campaign_resume(campaign_id=campaign.pk, actor=alice_setup.user)

    campaign.refresh_from_db()
    assert campaign.status == "paused"
    assert CampaignRun.objects.get(campaign=campaign).status == "paused"
    assert audit_count() == audits


def test_it_refuses_to_start_once_todays_volume_cap_is_reached(
    alice_setup, funded, settings, django_capture_on_commit_callbacks
):
    settings.CAMPAIGN_USER_DAILY_VOLUME_CAP_LAMPORTS = 50 * SOL
    earlier = make_campaign(alice_setup, status="stopped")
    run = earlier.runs.get()
    job = JobFactory(run=run)
    for attempt, (side, sol_in, sol_out) in enumerate(
        [("buy", 30 * SOL, 0), ("sell", 0, 20 * SOL)]
    ):
        ExecutionFactory(
            job=job, attempt=attempt, side=side, wallet=alice_setup.wallet,
            sol_in_lamports=sol_in, sol_out_lamports=sol_out,
        )  # fmt: skip
    campaign = make_campaign(alice_setup)
    audits = audit_count()

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(Conflict) as error:
        campaign_start(campaign_id=campaign.pk, actor=alice_setup.user)

    assert error.value.code == "daily_cap_reached"
    assert error.value.message == (
        "Your campaigns traded 50 SOL today, the daily cap of 50 SOL: start again tomorrow (UTC)."
    )
    assert_unchanged(
        campaign, status="draft", audits=audits, callbacks=callbacks, alert=error.value.message
    )


def test_it_says_how_much_the_funding_wallet_falls_short(
    alice_api, alice_setup, balances, django_capture_on_commit_callbacks
):
    balances.lamports[alice_setup.wallet.address] = REQUIRED_LAMPORTS - 1
    campaign = make_campaign(alice_setup)
    audits = audit_count()

    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_api.post(f"/v1/campaigns/{campaign.pk}/start")

    message = (
        "The funding wallet holds 1.500049999 SOL but this campaign needs 1.50005 SOL to start "
        "(3 makers at 0.5 SOL each plus 0.00005 SOL of fees): it is 0.000000001 SOL short."
    )
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "insufficient_funds",
        "message": message,
        "fields": {"funding_wallet_id": [message]},
    }
    assert_unchanged(campaign, status="draft", audits=audits, callbacks=callbacks)


def test_it_starts_when_the_wallet_holds_exactly_enough(alice_setup, balances):
    balances.lamports[alice_setup.wallet.address] = REQUIRED_LAMPORTS
    campaign = make_campaign(alice_setup)

    started = campaign_start(campaign_id=campaign.pk, actor=alice_setup.user)

    assert started.status == "active"
    assert campaign.runs.get().status == "running"


def test_it_starts_a_dry_run_without_funds_or_a_chain_read(alice_setup, balances):
    campaign = make_campaign(alice_setup, params={"mode": "dry_run"})

    started = campaign_start(campaign_id=campaign.pk, actor=alice_setup.user)

    assert started.status == "active"
    assert balances.calls == 0


def test_it_keeps_a_funding_wallet_that_a_campaign_uses(alice_setup):
    make_campaign(alice_setup)

    with pytest.raises(Conflict):
        wallet_delete(wallet_id=alice_setup.wallet.pk, owner=alice_setup.user)

    assert alice_setup.wallet.__class__.objects.filter(pk=alice_setup.wallet.pk).exists()
