"""The maker-wallet limit per user: the platform default (`CAMPAIGN_MAX_MAKERS`) unless an admin
set one for the user (`User.max_makers`, 1 to `MAKERS_CEILING`); the API, the wizard's check
and the start refuse more with a message that says whose limit it is."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.accounts.models import MAKERS_CEILING
from apps.campaigns.models import Campaign
from apps.campaigns.services import campaign_create, campaign_start
from apps.core.errors import ValidationFailed
from tests.support.campaigns import PARAMS, REQUIRED_LAMPORTS
from tests.support.mfa import login_verified

pytestmark = pytest.mark.django_db

PLATFORM = "Between 1 and 100 maker wallets (platform limit)."


def create(setup, makers: int) -> Campaign:
    params = {**PARAMS, "maker_count": makers}
    return campaign_create(owner=setup.user, name="C", params=params, **setup.refs())


def refusal(error) -> list[str]:
    return error.value.fields["params.maker_count"]


def test_the_platform_default_applies_until_an_admin_sets_a_limit(alice_setup):
    assert create(alice_setup, 100).params["maker_count"] == 100
    with pytest.raises(ValidationFailed) as error:
        create(alice_setup, 101)
    assert refusal(error) == [PLATFORM]

    alice_setup.user.max_makers = 10_000
    alice_setup.user.save()

    assert create(alice_setup, 10_000).params["maker_count"] == 10_000


def test_a_limit_set_by_an_admin_is_enforced_with_its_own_message(alice_setup, bob_setup):
    alice_setup.user.max_makers = 300
    alice_setup.user.save()

    with pytest.raises(ValidationFailed) as error:
        create(alice_setup, 301)
    assert refusal(error) == [
        "Between 1 and 300 maker wallets (the limit an administrator set for your account)."
    ]
    assert create(alice_setup, 300).params["maker_count"] == 300
    # Another user keeps the platform's.
    with pytest.raises(ValidationFailed) as error:
        create(bob_setup, 300)
    assert refusal(error) == [PLATFORM]
    assert Campaign.objects.count() == 1


def test_a_start_rechecks_the_limit_an_admin_lowered_since(alice_setup, balances):
    alice_setup.user.max_makers = 300
    alice_setup.user.save()
    campaign = create(alice_setup, 300)
    balances.lamports[alice_setup.wallet.address] = 300 * REQUIRED_LAMPORTS
    alice_setup.user.max_makers = 200
    alice_setup.user.save()

    with pytest.raises(ValidationFailed) as error:
        campaign_start(campaign_id=campaign.pk, actor=alice_setup.user)

    assert "Between 1 and 200 maker wallets" in refusal(error)[0]
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_nobody_goes_past_the_engines_ceiling(alice_setup):
    alice_setup.user.max_makers = MAKERS_CEILING
    alice_setup.user.save()

    with pytest.raises(ValidationFailed) as error:
        create(alice_setup, MAKERS_CEILING + 1)

    assert error.value.fields["params.maker_count"] == ["Between 1 and 10000 maker wallets."]


@pytest.mark.parametrize("value", [0, MAKERS_CEILING + 1])
def test_the_admin_field_is_validated(alice, value):
    alice.max_makers = value

    with pytest.raises(ValidationError) as error:
        alice.full_clean()

    assert list(error.value.message_dict) == ["max_makers"]


def test_an_admin_sets_the_limit_on_the_users_page(client, carol, alice):
    login_verified(client, carol)
    url = reverse("admin:accounts_user_change", args=[alice.pk])
    assert 'name="max_makers"' in client.get(url).content.decode()
    data = {"email": alice.email, "display_name": "", "max_trades_per_minute": ""}

    refused = client.post(url, {**data, "max_makers": "20000"})

    assert refused.status_code == 200
    assert "Ensure this value is less than or equal to 10000." in refused.content.decode()
    alice.refresh_from_db()
    assert alice.max_makers is None
    assert client.post(url, {**data, "max_makers": "2500"}).status_code == 302
    alice.refresh_from_db()
    assert alice.max_makers == 2500


def test_the_api_refuses_more_makers_than_the_users_limit(alice_api, alice_setup):
    body = {"name": "Big", **alice_setup.refs(), "params": {**PARAMS, "maker_count": 500}}

    response = alice_api.post("/v1/campaigns", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["params.maker_count"] == [PLATFORM]
    alice_setup.user.max_makers = 500
    alice_setup.user.save()
    assert alice_api.post("/v1/campaigns", body, format="json").status_code == 201
