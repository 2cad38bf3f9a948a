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
        for sql in _execution_reads_of(alice_client, url):
            plans[sql] = _scans_of_executions(sql)

    assert plans, "the pages read executions"
    for sql, scans in plans.items():
        assert scans and all(kind != "Seq Scan" for kind, _ in scans), (sql, scans)
        assert " OFFSET " not in sql, sql
    used = {index for scans in plans.values() for _, index in scans}
    assert {"execution_campaign_created", "execution_campaign_status"} <= used, used


def _execution_reads_of(client, url: str) -> list[str]:
    return _reads(client, url)


def test_the_logs_index_serves_the_keyset_order_without_a_sort(histories):
    busy, _, _ = histories
    page = executions_filtered(campaign=busy, filters=LogFilters())[:51]

    nodes = _plan_nodes(str(page.query))

    assert "Sort" not in {node["Node Type"] for node in nodes}
    assert ("Index Scan", "execution_campaign_created") in [
        (n["Node Type"], n.get("Index Name")) for n in nodes
    ]
