"""The campaign pages and their HTMX partials: owner, another user (404), anonymous, and with
and without the HX-Request header."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils.timezone import now

from apps.admin_ops.alerts import alert_raise
from apps.admin_ops.models import Alert
from apps.campaigns import realtime
from apps.campaigns.models import Campaign
from apps.core.models import AuditEvent, SystemSwitch
from apps.execution.models import Execution
from tests.factories import SystemSwitchFactory
from tests.support.campaigns import SOL, make_campaign, make_job, make_trade

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
LIVE_PARTS = list(realtime.LIVE_PARTS)


@pytest.fixture
def active(alice_setup):
    campaign = make_campaign(alice_setup, status="active")
    run = campaign.current_run
    make_trade(run, side="buy", lamports=SOL // 10)
    make_trade(run, side="sell", lamports=SOL // 20)
    make_job(run, type="trade_buy", status="queued")
    return campaign


# Dashboard ---------------------------------------------------------------------------------


def test_it_shows_the_dashboard_cards_from_the_last_24_hours(alice_client, active):
    run = active.current_run
    make_trade(run, side="buy", lamports=SOL, status="failed")

    page = alice_client.get(reverse("dashboard")).content.decode()

    assert '<p class="figure" id="card-active">1</p>' in page
    assert "0.150000000 SOL" in page  # landed volume only
    assert "66.66 %" in page  # 2 landed of 3 finished
    assert "0.000015000 SOL" in page  # 3 trades' fees
    assert active.name in page


def test_it_tells_a_new_user_what_to_do_first(alice_client):
    page = alice_client.get(reverse("dashboard")).content.decode()

    assert "Nothing running yet" in page
    assert reverse("wallets:add") in page and reverse("tokens:register") in page


def test_it_shows_the_pause_all_notice_on_the_dashboard(alice_client):
    SystemSwitchFactory(name=SystemSwitch.Name.PAUSE_ALL, message="Maintenance until 18:00 UTC")

    page = alice_client.get(reverse("dashboard")).content.decode()

    assert 'id="dashboard-notices"' in page
    assert '<div class="notice-card" role="status"><p><strong>Maintenance until 18:00 UTC' in page


def test_owners_see_their_open_alerts_on_the_dashboard_and_the_campaign(
    alice_client, bob_client, active
):
    alert_raise(kind="circuit_breaker", user=active.owner, campaign=active, message="5 failed")
    alert_raise(kind="circuit_breaker", user=active.owner, campaign=active, message="6 failed")
    closed = alert_raise(kind="low_balance", user=active.owner, message="closed already")
    Alert.objects.filter(pk=closed.pk).update(resolved_at=now())

    dashboard = alice_client.get(reverse("dashboard")).content.decode()
    polled = alice_client.get(reverse("dashboard"), {"part": "dashboard-live"}, **HX)
    head = alice_client.get(
        reverse("campaigns:detail", args=[active.pk]), {"part": "campaign-head"}, **HX
    ).content.decode()
    bobs = bob_client.get(reverse("dashboard")).content.decode()

    for body in (dashboard, polled.content.decode(), head):
        assert "Circuit breaker paused a run" in body and "6 failed" in body
        assert "2 times, last" in body
        assert "closed already" not in body
    assert 'hx-trigger="every 10s"' in dashboard
    assert polled.content.decode().lstrip().startswith('<div id="dashboard-live"')
    assert 'id="dashboard-alerts"' in dashboard and 'id="campaign-alerts"' in head
    assert "6 failed" not in bobs


def test_it_sends_anonymous_users_to_sign_in(client, active):
    for url in (
        reverse("dashboard"),
        reverse("campaigns:list"),
        reverse("campaigns:new"),
        reverse("campaigns:detail", args=[active.pk]),
        reverse("campaigns:logs", args=[active.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/accounts/signin/" in response["Location"]


# List ---------------------------------------------------------------------------------------


def test_it_lists_the_owners_campaigns_with_badges_and_filters(alice_client, alice_setup):
    draft = make_campaign(alice_setup)
    paused = make_campaign(alice_setup, status="paused")

    page = alice_client.get(reverse("campaigns:list")).content.decode()
    filtered = alice_client.get(reverse("campaigns:list"), {"status": "paused"}, **HX)

    assert f'id="campaign-row-{draft.pk}"' in page and f'id="campaign-row-{paused.pk}"' in page
    assert '<span class="badge status-paused">Paused</span>' in page
    assert "<html" in page
    body = filtered.content.decode()
    assert body.lstrip().startswith('<section id="campaign-table">')
    assert f'id="campaign-row-{paused.pk}"' in body
    assert f'id="campaign-row-{draft.pk}"' not in body


def test_it_never_lists_another_users_campaigns(bob_client, alice_setup):
    make_campaign(alice_setup)

    page = bob_client.get(reverse("campaigns:list")).content.decode()

    assert "No campaigns yet" in page
    assert reverse("campaigns:new") in page


# Detail and its partials --------------------------------------------------------------------


def test_it_renders_the_detail_page_with_every_live_partial(alice_client, active):
    response = alice_client.get(reverse("campaigns:detail", args=[active.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    for part in LIVE_PARTS:
        assert f'id="{part}"' in page
    assert "hx-swap-oob" not in page
    assert f'data-live-url="/ws/campaigns/{active.pk}/"' in page
    assert "0.150000000 SOL" in page  # run volume is the counter, not the rows
    assert page.count('id="trade-') >= 2
    assert "https://explorer.solana.com/tx/" in page
    assert "<svg" in page  # charts


@pytest.mark.parametrize("part", LIVE_PARTS)
def test_it_answers_each_partial_to_htmx_and_the_full_page_without_it(alice_client, active, part):
    url = reverse("campaigns:detail", args=[active.pk])

    fragment = alice_client.get(url, {"part": part}, **HX)
    page = alice_client.get(url, {"part": part})

    assert fragment.status_code == 200
    assert fragment.content.decode().lstrip().startswith(f'<section id="{part}"')
    assert "<html" not in fragment.content.decode()
    assert page.status_code == 200 and "<html" in page.content.decode()


def test_it_shows_the_trade_feed_newest_first_and_capped(alice_client, alice_setup):
    campaign = make_campaign(alice_setup, status="active")
    trades = [make_trade(campaign.current_run) for _ in range(23)]

    body = alice_client.get(
        reverse("campaigns:detail", args=[campaign.pk]), {"part": "trade-feed"}, **HX
    ).content.decode()

    assert body.count('<tr id="trade-') == 20
    assert body.index(f'id="trade-{trades[-1].pk}"') < body.index(f'id="trade-{trades[-2].pk}"')
    assert f'id="trade-{trades[0].pk}"' not in body


@pytest.mark.parametrize("htmx", [False, True])
def test_bob_gets_404_on_alices_pages_and_partials(bob_client, active, htmx):
    headers = HX if htmx else {}
    for url in (
        reverse("campaigns:detail", args=[active.pk]),
        reverse("campaigns:detail", args=[active.pk]) + "?part=run-stats",
        reverse("campaigns:logs", args=[active.pk]),
    ):
        assert bob_client.get(url, **headers).status_code == 404, url
    response = bob_client.post(reverse("campaigns:action", args=[active.pk, "pause"]), **headers)
    assert response.status_code == 404
    active.refresh_from_db()
    assert active.status == "active"


# Controls -----------------------------------------------------------------------------------


def test_it_pauses_with_a_toast_and_answers_the_head_partial_to_htmx(alice_client, active):
    response = alice_client.post(reverse("campaigns:action", args=[active.pk, "pause"]), **HX)

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="campaign-head"')
    assert "Paused" in body and ">Resume<" in body and ">Stop<" in body
    assert json.loads(response["HX-Trigger"])["messages"] == [
        {"level": "success", "text": "Paused “Campaign”."}
    ]
    assert Campaign.objects.get(pk=active.pk).status == "paused"


def test_it_redirects_a_plain_post_back_to_the_detail_page(alice_client, active):
    response = alice_client.post(reverse("campaigns:action", args=[active.pk, "stop"]))

    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:detail", args=[active.pk])
    assert Campaign.objects.get(pk=active.pk).status == "stopping"


def test_it_refuses_a_forbidden_move_with_a_message_and_changes_nothing(alice_client, alice_setup):
    draft = make_campaign(alice_setup)

    response = alice_client.post(reverse("campaigns:action", args=[draft.pk, "stop"]), **HX)

    [message] = json.loads(response["HX-Trigger"])["messages"]
    assert message["level"] == "error"
    assert "nothing to stop" in message["text"]
    assert Campaign.objects.get(pk=draft.pk).status == "draft"


def test_it_offers_only_the_controls_the_state_allows(alice_client, alice_setup):
    draft = make_campaign(alice_setup)

    body = alice_client.get(
        reverse("campaigns:detail", args=[draft.pk]), {"part": "campaign-head"}, **HX
    ).content.decode()

    assert ">Start<" in body
    assert ">Pause<" not in body and ">Resume<" not in body and ">Stop<" not in body
    assert 'hx-confirm="Start' in body


# Logs ---------------------------------------------------------------------------------------


def test_it_pages_the_logs_by_keyset_and_filters_them(alice_client, alice_setup):
    campaign = make_campaign(alice_setup, status="active")
    run = campaign.current_run
    rows = [make_trade(run, side="buy" if i % 2 else "sell") for i in range(55)]
    url = reverse("campaigns:logs", args=[campaign.pk])

    first = alice_client.get(url).content.decode()
    buys = alice_client.get(url, {"side": "buy"}, **HX).content.decode()

    assert first.count('<tr id="execution-') == 50
    assert f'id="execution-{rows[-1].pk}"' in first
    assert 'id="logs-older"' in first
    older = first.split('id="logs-older"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = alice_client.get(url + older.replace("&amp;", "&"), **HX).content.decode()
    assert second.count('<tr id="execution-') == 5
    assert f'id="execution-{rows[0].pk}"' in second
    assert buys.lstrip().startswith('<section id="log-table">')
    assert buys.count('<tr id="execution-') == 27
    assert reverse("api:campaign_logs_csv", args=[campaign.pk]) in first


def test_it_filters_the_logs_by_time_and_carries_the_filter_into_the_links(
    alice_client, alice_setup
):
    campaign = make_campaign(alice_setup, status="active")
    run = campaign.current_run
    day = datetime(2026, 11, 20, tzinfo=UTC)
    early, middle, late = (make_trade(run, created_at=day + timedelta(hours=h)) for h in (1, 5, 9))
    url = reverse("campaigns:logs", args=[campaign.pk])

    page = alice_client.get(url, {"since": "2026-11-20T05:00", "until": "2026-11-20T09:00"})

    body = page.content.decode()
    assert f'id="execution-{middle.pk}"' in body
    assert f'id="execution-{early.pk}"' not in body and f'id="execution-{late.pk}"' not in body
    assert 'value="2026-11-20T05:00"' in body
    assert "since=2026-11-20T05%3A00&amp;until=2026-11-20T09%3A00" in body  # the CSV link


def test_it_says_which_log_filter_is_wrong(alice_client, alice_setup):
    campaign = make_campaign(alice_setup, status="active")
    make_trade(campaign.current_run)

    page = alice_client.get(
        reverse("campaigns:logs", args=[campaign.pk]), {"since": "yesterday", "side": "sideways"}
    )

    body = page.content.decode()
    assert page.status_code == 200
    assert 'role="alert"' in body and "Since: Datetime has wrong format." in body
    assert "Side: &quot;sideways&quot; is not a valid choice." in body
    assert '<tr id="execution-' not in body


def test_a_stopping_campaign_offers_to_gather_again(alice_client, alice_setup):
    campaign = make_campaign(alice_setup, status="stopping")

    head = alice_client.get(
        reverse("campaigns:detail", args=[campaign.pk]), {"part": "campaign-head"}, **HX
    ).content.decode()
    response = alice_client.post(reverse("campaigns:action", args=[campaign.pk, "gather"]))

    assert ">Gather<" in head and 'hx-confirm="Gather' in head
    assert response.status_code == 302
    [job] = campaign.current_run.jobs.filter(type="funds_gather")
    assert job.status == "queued"


def test_sell_only_switches_the_run_once_and_leaves_the_control(alice_client, bob_client, active):
    url = reverse("campaigns:action", args=[active.pk, "sell-only"])
    head = reverse("campaigns:detail", args=[active.pk])

    before = alice_client.get(head, {"part": "campaign-head"}, **HX).content.decode()
    refused = bob_client.post(url)
    alice_client.post(url)
    alice_client.post(url)  # a second press changes nothing
    after = alice_client.get(head, {"part": "campaign-head"}, **HX).content.decode()

    assert ">Sell-only<" in before and 'hx-confirm="Switch' in before
    assert refused.status_code == 404
    active.refresh_from_db()
    assert active.current_run.summary["sell_only"] is True
    assert active.status == "active"
    assert active.status_reason.startswith("Sell-only: no more buys")
    assert (
        AuditEvent.objects.filter(action="campaign.sell_only", entity_id=str(active.pk)).count()
        == 1
    )
    assert ">Sell-only<" not in after and ">Stop<" in after


def test_the_api_switches_to_sell_only_and_gathers(alice_api, active):
    sell = alice_api.post(f"/v1/campaigns/{active.pk}/sell-only")
    gather = alice_api.post(f"/v1/campaigns/{active.pk}/gather")

    assert sell.status_code == 200 and gather.status_code == 200
    assert gather.json()["status"] == "stopping"
    run = active.current_run
    assert run.summary["sell_only"] is True
    assert run.jobs.filter(type="funds_gather").count() == 1


def test_sell_only_needs_a_trading_campaign(alice_client, alice_setup):
    draft = make_campaign(alice_setup)

    response = alice_client.post(
        reverse("campaigns:action", args=[draft.pk, "sell-only"]), follow=True
    )

    assert "sell-only applies to an active or paused campaign" in response.content.decode()
    assert not draft.runs.exists()


def test_it_says_what_to_do_when_the_logs_are_empty(alice_client, alice_setup):
    campaign = make_campaign(alice_setup)

    page = alice_client.get(reverse("campaigns:logs", args=[campaign.pk])).content.decode()

    assert "No executions" in page
    assert "appears here once it starts" in page


def test_it_reports_a_bad_cursor_instead_of_failing(alice_client, alice_setup):
    campaign = make_campaign(alice_setup)

    response = alice_client.get(
        reverse("campaigns:logs", args=[campaign.pk]), {"cursor": "garbage"}, **HX
    )

    assert response.status_code == 200
    assert "This cursor is not valid" in response.content.decode()
    assert Execution.objects.count() == 0


def test_it_pauses_from_the_list_and_answers_the_list_partial(alice_client, alice_setup):
    running = make_campaign(alice_setup, status="active")
    url = reverse("campaigns:action", args=[running.pk, "pause"])

    response = alice_client.post(url, {"from": "list", "status": "active"}, **HX)

    body = response.content.decode()
    assert body.lstrip().startswith('<section id="campaign-table">')
    assert "No active campaigns" in body  # the filter is kept: the paused one left it
    assert Campaign.objects.get(pk=running.pk).status == "paused"
    plain = alice_client.post(
        reverse("campaigns:action", args=[running.pk, "resume"]), {"from": "list"}
    )
    assert plain.status_code == 302 and plain["Location"] == reverse("campaigns:list")
    assert Campaign.objects.get(pk=running.pk).status == "active"


def test_the_logs_csv_link_downloads_with_the_page_session(alice_client, bob_client, active):
    page = alice_client.get(reverse("campaigns:logs", args=[active.pk]), {"side": "sell"})
    link = page.content.decode().split('id="csv-export"')[0].rsplit('href="', 1)[1].split('"')[0]

    response = alice_client.get(link.replace("&amp;", "&"))

    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert response.status_code == 200
    assert link == reverse("api:campaign_logs_csv", args=[active.pk]) + "?side=sell"
    assert len(lines) == 2  # the header and the one sell
    assert bob_client.get(link.replace("&amp;", "&")).status_code == 404


def test_it_says_when_a_run_is_slowed_by_the_request_budget(alice_client, active):
    url = reverse("campaigns:detail", args=[active.pk])
    note = "Slowed by the network's request budget: this run gets its fair share, 4.5 trades"
    assert note not in alice_client.get(url).content.decode()
    run = active.current_run
    run.summary.update(budget_slowed=True, share_trades_per_minute=4.5)
    run.save(update_fields=["summary"])

    page = alice_client.get(url).content.decode()
    fragment = alice_client.get(url, {"part": "run-stats"}, **HX).content.decode()

    assert note in page
    assert note in fragment and "<html" not in fragment


def test_it_shows_the_runs_cost_per_sol_of_volume_beside_the_estimate(alice_client, active):
    run = active.current_run
    run.summary["estimate_per_sol_volume_lamports"] = 60_000
    run.save(update_fields=["summary"])
    url = reverse("campaigns:detail", args=[active.pk])

    fragment = alice_client.get(url, {"part": "run-stats"}, **HX).content.decode()

    # 0.15 SOL traded for two 5,000-lamport fees: 66,667 lamports per SOL, rounded up.
    assert (
        '<dd class="num" id="stat-cost-per-sol">0.000066667 SOL '
        '<span class="muted">(estimate 0.000060000 SOL)</span></dd>'
    ) in fragment
