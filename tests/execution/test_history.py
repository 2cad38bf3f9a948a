"""Large histories: the campaign status, the logs (API, page and CSV), the dashboard and the
engine's admin lists read through indexes in their keyset order, in a fixed number of queries,
whatever the history holds (figures at 1,000,000 executions: `python -m bench.history`)."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.campaigns.models import CampaignRun
from apps.campaigns.selectors import LogFilters, executions_filtered
from apps.execution.models import Execution
from tests.support.campaigns import make_campaign, make_trade
from tests.support.mfa import login_verified

pytestmark = pytest.mark.django_db

HISTORY_SQL = """
WITH jobs AS (
    INSERT INTO execution_job (run_id, queue, type, payload, step, status, attempts,
        idempotency_key, created_at, updated_at)
    SELECT %(run)s, 'trade.buy', 'trade_buy', '{}', 'main', 'succeeded', 1,
           'history:' || %(run)s || ':' || g, t, t
    FROM (SELECT g, %(start)s::timestamptz + g * %(step)s * interval '1 second' AS t
          FROM generate_series(1, %(count)s) g) rows
    RETURNING id, created_at
)
INSERT INTO execution_execution (job_id, run_id, campaign_id, attempt, signature, blockhash,
    bundle_id, status, side, wallet_id, fee_lamports, tip_lamports, sol_in_lamports,
    sol_out_lamports, token_in_raw, token_out_raw, created_at, updated_at)
SELECT id, %(run)s, %(campaign)s, 1, 'history' || id, '', '',
       CASE WHEN id %% 50 = 0 THEN 'failed' ELSE 'landed' END, 'buy', %(wallet)s, 5000, 0,
       1000, 0, 0, 10, created_at, created_at
FROM jobs
"""


def _history(campaign, *, count: int, days: int = 30) -> None:
    """`count` old trades of the campaign's run (one SQL statement), spread evenly over the
    `days` before the last hour, so a day's window holds a thirtieth of them."""
    run = campaign.runs.get()
    step = (days * 86_400 - 3_600) / count
    with connection.cursor() as cursor:
        cursor.execute(HISTORY_SQL, {
            "run": run.pk, "campaign": campaign.pk, "wallet": campaign.funding_wallet_id,
            "start": timezone.now() - timedelta(days=days), "step": step, "count": count,
        })  # fmt: skip


@pytest.fixture
def histories(alice_setup, bob_setup):
    """Alice's busy campaign (20,000 trades), her quiet one (200) and Bob's (2,000), analysed
    as the autovacuum daemon would have: what the planner sees in production."""
    busy = make_campaign(alice_setup, status="active", name="Busy")
    quiet = make_campaign(alice_setup, status="active", name="Quiet")
    bobs = make_campaign(bob_setup, status="active", name="Bob's")
    for campaign, count in ((busy, 20_000), (quiet, 200), (bobs, 2_000)):
        _history(campaign, count=count)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE execution_execution")
        cursor.execute("ANALYZE execution_job")
    return busy, quiet, bobs


def _plan_nodes(sql: str) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes, todo = [], [plan[0]["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo += node.get("Plans", [])
    return nodes


def _execution_reads(captured) -> list[str]:
    return [q["sql"] for q in captured if '"execution_execution"' in q["sql"]]


def _scans_of_executions(sql: str) -> list[tuple[str, str | None]]:
    """(node type, index name) of every node of the plan that reads the executions table."""
    return [
        (node["Node Type"], node.get("Index Name"))
        for node in _plan_nodes(sql)
        if node.get("Relation Name") == "execution_execution"
    ]


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


def _reads(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200, body[:500]
    return _execution_reads(captured.captured_queries)


def test_every_read_of_the_logs_status_and_dashboard_uses_an_index(alice_client, histories):
    busy, quiet, _ = histories
    first = alice_client.get(f"/v1/campaigns/{busy.pk}/logs").json()
    deep = f"/v1/campaigns/{busy.pk}/logs?cursor={first['next_cursor']}"
    urls = [
        f"/v1/campaigns/{busy.pk}/logs", deep, f"/v1/campaigns/{busy.pk}/logs?status=failed",
        f"/v1/campaigns/{quiet.pk}/logs", f"/v1/campaigns/{busy.pk}/status",
        f"/campaigns/{busy.pk}/", f"/campaigns/{busy.pk}/logs/", "/dashboard/",
    ]  # fmt: skip
    plans = {}
    for url in urls:
        for sql in _reads(alice_client, url):
            plans[sql] = _scans_of_executions(sql)

    assert plans, "the pages read executions"
    for sql, scans in plans.items():
        assert scans and all(kind != "Seq Scan" for kind, _ in scans), (sql, scans)
        assert " OFFSET " not in sql, sql
    used = {index for scans in plans.values() for _, index in scans}
    assert {"execution_campaign_created", "execution_campaign_status"} <= used, used


def test_the_logs_index_serves_the_keyset_order_without_a_sort(histories):
    busy, _, _ = histories
    page = executions_filtered(campaign=busy, filters=LogFilters())[:51]

    nodes = _plan_nodes(str(page.query))

    assert "Sort" not in {node["Node Type"] for node in nodes}
    assert ("Index Scan", "execution_campaign_created") in [
        (n["Node Type"], n.get("Index Name")) for n in nodes
    ]


def test_the_admin_lists_count_no_further_than_the_next_page(client, carol, histories):
    login_verified(client, carol)
    signature = Execution.objects.filter(status="failed").values_list("signature").first()[0]
    for url in ("/admin/execution/execution/", "/admin/execution/job/",
                "/admin/execution/execution/?p=3", f"/admin/execution/execution/?q={signature}",
                "/admin/execution/ledgerentry/"):  # fmt: skip
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200
        reads = [q["sql"] for q in captured.captured_queries if '"execution_' in q["sql"]]
        counts = [sql for sql in reads if "COUNT(" in sql]
        assert counts, reads
        page = 3 if "p=3" in url else 1
        assert all(f"LIMIT {page * 100 + 1}" in sql for sql in counts), counts
        for sql in _execution_reads(captured.captured_queries):
            assert all(kind != "Seq Scan" for kind, _ in _scans_of_executions(sql)), sql


def test_the_admin_finds_an_execution_by_signature_or_maker_address(client, carol, alice_setup):
    login_verified(client, carol)
    run = make_campaign(alice_setup, status="active").current_run
    wanted, other = make_trade(run), make_trade(run)

    by_signature = client.get("/admin/execution/execution/", {"q": wanted.signature})
    by_maker = client.get("/admin/execution/execution/", {"q": other.wallet.address})
    by_part = client.get("/admin/execution/execution/", {"q": wanted.signature[:20]})

    assert list(by_signature.context["cl"].result_list) == [wanted]
    assert list(by_maker.context["cl"].result_list) == [other]
    assert list(by_part.context["cl"].result_list) == []  # exact matches only (indexed)


def test_the_admin_refuses_pages_past_its_last_counted_one(client, carol, histories):
    login_verified(client, carol)

    last = client.get("/admin/execution/execution/", {"p": 100})  # rows 9,901 to 10,000
    past = client.get("/admin/execution/execution/", {"p": 101})

    assert last.status_code == 200 and len(last.context["cl"].result_list) == 100
    assert past.status_code == 302 and "e=1" in past["Location"]


def _walk(client, url: str) -> list[int]:
    ids, cursor = [], None
    while True:
        body = client.get(url, {"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        ids += [row["id"] for row in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids
        # A trade lands between two pages: newer than every cursor, so never in a later page.
        make_trade(_live_run(url))


def _live_run(url: str) -> CampaignRun:
    campaign_id = int(url.split("/")[3])
    return CampaignRun.objects.filter(campaign_id=campaign_id, status="running").get()


def test_the_logs_page_through_every_run_once_while_trades_land(alice_client, alice_setup):
    campaign = make_campaign(alice_setup, status="active")
    live = campaign.current_run
    earlier = CampaignRun.objects.create(
        campaign=campaign, seed=1, status="completed",
        started_at=timezone.now() - timedelta(days=2), ended_at=timezone.now() - timedelta(days=1),
    )  # fmt: skip
    before = timezone.now() - timedelta(days=1, hours=12)
    old = [make_trade(earlier, created_at=before + timedelta(minutes=n)) for n in range(3)]
    new = [make_trade(live) for _ in range(3)]
    neighbour = make_trade(make_campaign(alice_setup, status="active").current_run)

    seen = _walk(alice_client, f"/v1/campaigns/{campaign.pk}/logs")

    expected = [row.pk for row in reversed(old + new)]
    assert seen == expected
    assert neighbour.pk not in seen
    assert Execution.objects.filter(campaign=campaign).count() == 6 + 2  # two landed since


# Queries per request, pinned: the same with 2 trades or 302 (a new query in one of these reads
# must be a deliberate change, and none may grow with the history).
QUERIES = {
    "/v1/campaigns/{id}/status": 4,
    "/v1/campaigns/{id}/logs": 3,
    "/v1/campaigns/{id}/logs.csv": 3,
    "/campaigns/{id}/": 12,
    "/campaigns/{id}/logs/": 4,
    "/dashboard/": 6,
}


def _query_counts(client, campaign) -> dict[str, int]:
    counts = {}
    for url in QUERIES:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url.format(id=campaign.pk))
            if response.streaming:
                b"".join(response.streaming_content)
        assert response.status_code == 200, url
        counts[url] = len(captured.captured_queries)
    return counts


def test_the_reads_take_a_fixed_number_of_queries_whatever_the_history(
    alice_client, alice_setup, settings
):
    settings.STATUS_CACHE_S = 0  # the status's own reads, not the cache's answer
    campaign = make_campaign(alice_setup, status="active")
    for side in ("buy", "sell"):
        make_trade(campaign.current_run, side=side)
    few = _query_counts(alice_client, campaign)

    _history(campaign, count=300)
    many = _query_counts(alice_client, campaign)

    assert few == many == QUERIES
