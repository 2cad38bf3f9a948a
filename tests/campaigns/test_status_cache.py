"""The status endpoint's cache (apps.campaigns.status_cache): a poll within STATUS_CACHE_S reads
no campaign or run row, another user never gets the owner's entry, and a transition or an
edit shows on the very next poll."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.campaigns.models import CampaignRun
from apps.campaigns.transitions import campaign_pause
from tests.support.campaigns import make_campaign

pytestmark = pytest.mark.django_db(transaction=True)  # forgetting happens on commit


@pytest.fixture(autouse=True)
def _long_ttl(settings):
    settings.STATUS_CACHE_S = 300  # no entry may expire during the test: only forgetting counts


def status(api, campaign):
    response = api.get(f"/v1/campaigns/{campaign.pk}/status")
    return response.status_code, response.json()


def campaign_reads(api, campaign) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert status(api, campaign)[0] == 200
    return [q["sql"] for q in queries if "campaigns_campaign" in q["sql"]]


def test_a_second_poll_reads_no_campaign_row(alice_api, alice_setup):
    campaign = make_campaign(alice_setup, status="active")

    assert campaign_reads(alice_api, campaign)  # the first computes the body
    assert campaign_reads(alice_api, campaign) == []  # the second is served from the cache


def test_another_user_never_gets_the_owners_cached_status(alice_api, alice_setup, bob_api):
    campaign = make_campaign(alice_setup, status="active")
    assert status(alice_api, campaign)[0] == 200  # cached for alice

    code, body = status(bob_api, campaign)

    assert code == 404 and body["error"]["code"] == "not_found"


def test_a_transition_shows_on_the_next_poll_while_counters_may_lag(alice_api, alice_setup):
    campaign = make_campaign(alice_setup, status="active")
    assert status(alice_api, campaign)[1]["status"] == "active"
    # Counters written without a transition (a trade) are served from the cache until it expires.
    CampaignRun.objects.filter(campaign=campaign).update(trades_total=7)
    assert status(alice_api, campaign)[1]["run"]["trades_total"] == 0

    campaign_pause(campaign_id=campaign.pk, actor=None, reason="operator")

    body = status(alice_api, campaign)[1]
    assert (body["status"], body["run"]["trades_total"]) == ("paused", 7)


def test_an_edit_shows_on_the_next_poll(alice_api, alice_setup):
    campaign = make_campaign(alice_setup, status="paused")
    assert status(alice_api, campaign)[1]["target_volume_lamports"] == 10 * 10**9

    response = alice_api.patch(
        f"/v1/campaigns/{campaign.pk}", {"params": {"target_volume_sol": "20"}}, format="json"
    )
    assert response.status_code == 200, response.json()

    assert status(alice_api, campaign)[1]["target_volume_lamports"] == 20 * 10**9
