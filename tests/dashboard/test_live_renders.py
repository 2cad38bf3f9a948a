"""A batch of a campaign's events is rendered in one go for its pages: each event gets the parts
it names, in its order, the shared parts rendered once at the current state and each trade its
own row, in a number of queries that does not grow with the batch."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.campaigns.realtime import render_events
from tests.support.campaigns import SOL, Setup, make_campaign, make_job, make_trade

pytestmark = pytest.mark.django_db


@pytest.fixture
def active(alice):
    return make_campaign(Setup(alice), status="active")


def completed(trade) -> dict:
    return {"type": "campaign.event", "event": "job_completed", "job_id": trade.job_id,
            "job_type": f"trade_{trade.side}", "status": "succeeded"}  # fmt: skip


def test_each_event_gets_its_own_parts_in_its_order(active):
    run = active.current_run
    started = make_job(run, type="trade_buy", status="processing")
    trade = make_trade(run, lamports=SOL // 2)
    skipped = make_job(run, type="trade_sell")  # succeeded with nothing to sell: no execution
    events = [
        {"type": "campaign.event", "event": "job_started", "job_id": started.pk,
         "job_type": "trade_buy"},
        completed(trade),
        {"type": "campaign.event", "event": "job_completed", "job_id": skipped.pk,
         "job_type": "trade_sell", "status": "succeeded"},
        {"type": "campaign.event", "event": "stats", "jobs": {}},
        {"type": "run_status_changed", "campaign_id": active.pk},
    ]  # fmt: skip

    htmls = render_events(campaign_id=active.pk, events=events)

    assert len(htmls) == 5
    assert htmls[0].lstrip().startswith('<section id="job-counts"')
    assert htmls[0].count("<section") == 1
    assert htmls[1].count('<tr id="trade-') == 1 and f'<tr id="trade-{trade.pk}">' in htmls[1]
    assert htmls[1].index('id="run-stats"') < htmls[1].index('id="trade-push"')
    assert htmls[1].index('id="trade-push"') < htmls[1].index('id="run-charts"')
    assert '<tr id="trade-' not in htmls[2] and 'id="run-stats"' in htmls[2]
    assert 'id="run-charts"' in htmls[3] and '<tr id="trade-' not in htmls[3]
    assert 'id="campaign-head"' in htmls[4]
    # A shared part is the same render for every event that names it.
    stats = htmls[3][htmls[3].index('<section id="run-stats"') :].split("</section>")[0]
    assert stats in htmls[1] and stats in htmls[2]


def test_a_batch_costs_the_same_queries_however_many_trades_it_holds(active):
    run = active.current_run
    one = [completed(make_trade(run, lamports=SOL // 10))]
    many = [completed(make_trade(run, lamports=SOL // 10)) for _ in range(8)]

    with CaptureQueriesContext(connection) as few:
        render_events(campaign_id=active.pk, events=one)
    with CaptureQueriesContext(connection) as more:
        htmls = render_events(campaign_id=active.pk, events=many)

    assert all(html.count('<tr id="trade-') == 1 for html in htmls)
    assert len(more.captured_queries) == len(few.captured_queries)


def test_a_deleted_campaign_renders_nothing(active):
    campaign_id = active.pk
    active.delete()

    assert render_events(campaign_id=campaign_id, events=[{"type": "campaign.event"}]) is None
