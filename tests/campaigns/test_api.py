"""The campaigns API: owner scoping (bob's campaigns are 404 to alice, anonymous is 401),
create/read/update/delete rules, logs with keyset pagination and CSV, the OpenAPI schema,
and the run_status_changed event through the real channel layer."""

import csv
import io
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.campaigns.models import Campaign, CampaignRun
from apps.campaigns.transitions import campaign_pause
from apps.core.models import AuditEvent
from apps.execution.models import Execution, Job
from tests.factories import CampaignRunFactory, ExecutionFactory, JobFactory
from tests.support.campaigns import PARAMS, make_campaign

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", ""),
    ("patch", ""),
    ("delete", ""),
    ("post", "/start"),
    ("post", "/pause"),
    ("post", "/resume"),
    ("post", "/stop"),
    ("post", "/estimate"),
    ("get", "/status"),
    ("get", "/logs"),
    ("get", "/logs.csv"),
]


def snapshot(campaign):
    row = Campaign.objects.get(pk=campaign.pk)
    return (
        row.status, row.name, row.params, CampaignRun.objects.filter(campaign=row).count(),
        AuditEvent.objects.count(),
    )  # fmt: skip


@pytest.mark.parametrize(("method", "suffix"), ENDPOINTS)
def test_it_hides_bobs_campaigns_from_alice(alice_api, bob_setup, funded, method, suffix):
    campaign = make_campaign(bob_setup, status="paused")
    before = snapshot(campaign)

    response = getattr(alice_api, method)(f"/v1/campaigns/{campaign.pk}{suffix}", {"name": "x"})

    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "No such campaign.", "fields": {}}
    }
    assert snapshot(campaign) == before


@pytest.mark.parametrize(("method", "suffix"), [*ENDPOINTS, ("get", "LIST"), ("post", "LIST")])
def test_it_refuses_anonymous_requests(api_client, alice_setup, method, suffix):
    campaign = make_campaign(alice_setup)
    before = snapshot(campaign)
    url = "/v1/campaigns" if suffix == "LIST" else f"/v1/campaigns/{campaign.pk}{suffix}"

    response = getattr(api_client, method)(url)

    assert response.status_code == 401
    assert snapshot(campaign) == before


def test_it_lists_only_the_owners_campaigns(alice_api, alice_setup, bob_setup):
    mine = make_campaign(alice_setup)
    make_campaign(bob_setup)

    response = alice_api.get("/v1/campaigns")

    assert [c["id"] for c in response.json()["results"]] == [mine.pk]
    assert response.json()["next_cursor"] is None


def test_it_filters_the_list_by_status(alice_api, alice_setup):
    make_campaign(alice_setup)
    paused = make_campaign(alice_setup, status="paused")

    response = alice_api.get("/v1/campaigns?status=paused")

    assert [c["id"] for c in response.json()["results"]] == [paused.pk]


def test_it_creates_a_campaign_and_returns_it(alice_api, alice_setup):
    response = alice_api.post(
        "/v1/campaigns", {"name": " Launch ", **alice_setup.refs(), "params": PARAMS}
    )

    assert response.status_code == 201
    body = response.json()
    campaign = Campaign.objects.get()
    assert body["id"] == campaign.pk
    assert (body["name"], body["status"], body["network"]) == ("Launch", "draft", "localnet")
    assert body["token"] == {
        "id": alice_setup.token.pk, "mint": alice_setup.token.mint, "symbol": "TEST",
    }  # fmt: skip
    assert body["pool"]["id"] == alice_setup.pool.pk
    assert body["funding_wallet"]["address"] == alice_setup.wallet.address
    assert body["params"]["maker_funding_sol"] == "0.5"
    assert body["params"]["version"] == 1
    assert body["run"] is None
    assert campaign.params["maker_funding_lamports"] == 500_000_000
    assert (
        AuditEvent.objects.filter(action="campaign.create", entity_id=str(campaign.pk)).count() == 1
    )


def test_it_reports_missing_top_level_fields(alice_api):
    response = alice_api.post("/v1/campaigns", {"params": PARAMS})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "name": ["This field is required."],
        "token_id": ["This field is required."],
        "pool_id": ["This field is required."],
        "funding_wallet_id": ["This field is required."],
    }
    assert not Campaign.objects.exists()


def test_it_merges_a_params_patch(alice_api, alice_setup):
    campaign = make_campaign(alice_setup)

    response = alice_api.patch(
        f"/v1/campaigns/{campaign.pk}", {"name": "Renamed", "params": {"slippage_bps": 80}}
    )

    assert response.status_code == 200
    campaign.refresh_from_db()
    assert campaign.name == "Renamed"
    assert campaign.params["slippage_bps"] == 80
    assert campaign.params["maker_count"] == 3  # untouched params stay
    assert campaign.params["seed"] == 7
    entry = AuditEvent.objects.get(action="campaign.update")
    assert entry.metadata == {"changed": ["name", "params"]}


@pytest.mark.parametrize("state", ["active", "stopping", "stopped", "completed", "failed"])
def test_it_refuses_to_change_a_campaign_outside_draft_scheduled_paused(
    alice_api, alice_setup, state
):
    campaign = make_campaign(alice_setup, status=state)
    before = snapshot(campaign)

    response = alice_api.patch(f"/v1/campaigns/{campaign.pk}", {"name": "New"})

    assert response.status_code == 409
    label = state.capitalize().lower()
    assert response.json()["error"]["message"] == (
        f"A {label} campaign cannot be changed: pause it (or wait until it has ended) first."
    )
    assert snapshot(campaign) == before


def test_it_keeps_what_a_paused_run_depends_on(alice_api, alice_setup):
    campaign = make_campaign(alice_setup, status="paused")
    before = snapshot(campaign)

    response = alice_api.patch(
        f"/v1/campaigns/{campaign.pk}",
        {
            "funding_wallet_id": alice_setup.wallet.pk,
            "params": {"maker_count": 2, "buy_percent": 60},
        },
    )

    message = "Cannot change while a run is in progress: stop the campaign first."
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "funding_wallet_id": [message], "params.maker_count": [message],
    }  # fmt: skip
    assert snapshot(campaign) == before
    ok = alice_api.patch(f"/v1/campaigns/{campaign.pk}", {"params": {"buy_percent": 60}})
    assert ok.status_code == 200
    assert ok.json()["params"]["buy_percent"] == 60


@pytest.mark.parametrize("state", ["active", "paused", "stopping"])
def test_it_refuses_to_delete_a_running_campaign(alice_api, alice_setup, state):
    campaign = make_campaign(alice_setup, status=state)
    before = snapshot(campaign)

    response = alice_api.delete(f"/v1/campaigns/{campaign.pk}")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "campaign_running"
    assert snapshot(campaign) == before


def test_it_deletes_an_ended_campaign_with_its_history(alice_api, alice_setup):
    campaign = make_campaign(alice_setup, status="stopped")
    run = campaign.runs.get()
    ExecutionFactory(job=JobFactory(run=run), wallet=alice_setup.wallet)

    response = alice_api.delete(f"/v1/campaigns/{campaign.pk}")

    assert response.status_code == 204
    assert not Campaign.objects.exists()
    assert not CampaignRun.objects.exists()
    assert not Job.objects.exists()
    assert not Execution.objects.exists()
    assert AuditEvent.objects.filter(action="campaign.delete").count() == 1


def test_a_live_runs_job_counts_come_from_the_engines_summary(alice_api, alice_setup, settings):
    settings.STATUS_CACHE_S = 0  # each poll computes (the cache: tests/campaigns/test_status_cache)
    campaign = make_campaign(alice_setup, status="active")
    run = campaign.runs.get()
    JobFactory(run=run, status="queued")
    stamp = "2026-01-01T00:00:00+00:00"
    CampaignRun.objects.filter(pk=run.pk).update(
        summary={"jobs": {"succeeded": 40, "queued": 2}, "stats_at": stamp}
    )

    with CaptureQueriesContext(connection) as queries:
        body = alice_api.get(f"/v1/campaigns/{campaign.pk}/status").json()

    assert body["jobs"] == {"succeeded": 40, "queued": 2}
    assert body["run"]["summary"]["stats_at"] == stamp
    assert not [q for q in queries.captured_queries if "execution_job" in q["sql"]]
    # Once the run has ended its jobs are counted, exactly.
    CampaignRun.objects.filter(pk=run.pk).update(status="stopped", ended_at=timezone.now())
    assert alice_api.get(f"/v1/campaigns/{campaign.pk}/status").json()["jobs"] == {"queued": 1}


def test_it_reports_the_live_status(alice_api, alice_setup):
    campaign = make_campaign(alice_setup, status="active", params={"budget_cap_sol": "1"})
    run = campaign.runs.get()
    CampaignRun.objects.filter(pk=run.pk).update(
        volume_lamports=2_500_000_000, trades_total=10, trades_succeeded=9, trades_failed=1,
        fees_lamports=50_000, tips_lamports=0, price_impact_lamports=200_000_000,
    )  # fmt: skip
    JobFactory(run=run, status="queued")

    body = alice_api.get(f"/v1/campaigns/{campaign.pk}/status").json()

    assert body["status"] == "active"
    assert body["jobs"] == {"queued": 1}
    assert body["run"]["success_rate_bps"] == 9_000
    assert body["run"]["spent_lamports"] == 200_050_000
    assert body["run"]["volume_progress_bps"] == 2_500  # 2.5 of 10 SOL
    assert body["run"]["budget_used_bps"] == 2_000  # 0.20005 of 1 SOL


@pytest.fixture
def logged(alice_setup):
    """A campaign with two runs and five executions at known times (newest last)."""
    campaign = make_campaign(alice_setup, status="stopped")
    second = CampaignRunFactory(campaign=campaign, status="stopped", seed=1)
    first = campaign.runs.exclude(pk=second.pk).get()
    base = timezone.now() - timedelta(hours=1)
    rows = []
    for index, (run, side, status) in enumerate(
        [(first, "transfer", "landed"), (first, "buy", "landed"), (first, "sell", "failed"),
         (second, "buy", "landed"), (second, "sell", "landed")]
    ):  # fmt: skip
        row = ExecutionFactory(
            job=JobFactory(run=run), status=status, side=side, wallet=alice_setup.wallet,
            signature=f"sig{index}", sol_in_lamports=index * 1000, token_out_raw=10**19,
        )  # fmt: skip
        # Two rows share a timestamp so the id breaks the tie.
        Execution.objects.filter(pk=row.pk).update(created_at=base + timedelta(minutes=index // 2))
        rows.append(row)
    return campaign, rows


def test_it_pages_the_logs_with_an_opaque_cursor(alice_api, logged):
    campaign, rows = logged
    url = f"/v1/campaigns/{campaign.pk}/logs?limit=2"

    first = alice_api.get(url).json()
    second = alice_api.get(f"{url}&cursor={first['next_cursor']}").json()
    third = alice_api.get(f"{url}&cursor={second['next_cursor']}").json()

    ids = [[r["id"] for r in page["results"]] for page in (first, second, third)]
    assert ids == [[rows[4].pk, rows[3].pk], [rows[2].pk, rows[1].pk], [rows[0].pk]]
    assert third["next_cursor"] is None
    assert first["results"][0]["token_out_raw"] == "10000000000000000000"
    assert first["results"][0]["wallet"] == logged[1][0].wallet.address


def test_it_filters_the_logs(alice_api, logged, alice_setup):
    campaign, rows = logged
    base = f"/v1/campaigns/{campaign.pk}/logs"
    since = (rows[2].__class__.objects.get(pk=rows[2].pk).created_at).isoformat()

    def ids(query):
        return [r["id"] for r in alice_api.get(base, query).json()["results"]]

    assert ids({"side": "buy"}) == [rows[3].pk, rows[1].pk]
    assert ids({"status": "failed"}) == [rows[2].pk]
    assert ids({"wallet": alice_setup.wallet.address, "side": "sell"}) == [rows[4].pk, rows[2].pk]
    assert ids({"since": since}) == [rows[4].pk, rows[3].pk, rows[2].pk]
    assert ids({"until": since}) == [rows[1].pk, rows[0].pk]


def test_it_rejects_a_bad_cursor(alice_api, logged):
    campaign, _ = logged

    response = alice_api.get(f"/v1/campaigns/{campaign.pk}/logs?cursor=bm9wZQ")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "cursor": ["This cursor is not valid: start again from the first page."]
    }


def test_it_exports_the_logs_as_streamed_csv(alice_api, logged):
    campaign, rows = logged

    response = alice_api.get(f"/v1/campaigns/{campaign.pk}/logs.csv?side=buy")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.streaming
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert lines[0][:8] == ["id", "created_at", "run_id", "job_id", "job_type", "attempt", "side",
                            "status"]  # fmt: skip
    assert [line[0] for line in lines[1:]] == [str(rows[3].pk), str(rows[1].pk)]
    assert lines[1][lines[0].index("signature")] == "sig3"
    assert lines[1][lines[0].index("token_out_raw")] == "10000000000000000000"


def test_the_logs_csv_neutralises_formulas_and_keeps_signed_numbers(alice_api, logged):
    campaign, rows = logged
    Execution.objects.filter(pk=rows[3].pk).update(signature='=HYPERLINK("x")')
    Execution.objects.filter(pk=rows[1].pk).update(sol_in_lamports=-1000)

    response = alice_api.get(f"/v1/campaigns/{campaign.pk}/logs.csv?side=buy")

    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    signature, sol_in = lines[0].index("signature"), lines[0].index("sol_in_lamports")
    assert [(line[signature], line[sol_in]) for line in lines[1:]] == [
        ('\'=HYPERLINK("x")', "3000"),
        ("sig1", "-1000"),  # a signed amount is a number, not a formula
    ]


def test_it_answers_csv_errors_as_json(alice_api, bob, logged):
    campaign, _ = logged

    response = alice_api.get(f"/v1/campaigns/{campaign.pk + 1000}/logs.csv?format=csv")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {"code": "not_found", "message": "No such campaign.", "fields": {}}
    }


def test_it_documents_every_endpoint_in_the_openapi_schema(client):
    schema = client.get("/api/schema/?format=json").json()

    paths = schema["paths"]
    for path, methods in {
        "/v1/campaigns": {"get", "post"},
        "/v1/campaigns/{campaign_id}": {"get", "patch", "delete"},
        "/v1/campaigns/{campaign_id}/start": {"post"},
        "/v1/campaigns/{campaign_id}/pause": {"post"},
        "/v1/campaigns/{campaign_id}/resume": {"post"},
        "/v1/campaigns/{campaign_id}/stop": {"post"},
        "/v1/campaigns/{campaign_id}/estimate": {"post"},
        "/v1/campaigns/{campaign_id}/status": {"get"},
        "/v1/campaigns/{campaign_id}/logs": {"get"},
        "/v1/campaigns/{campaign_id}/logs.csv": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
    create = paths["/v1/campaigns"]["post"]["requestBody"]["content"]["application/json"]
    assert create["examples"]["CreateAJitoCampaign"]["summary"] == "Create a Jito campaign"
    params = schema["components"]["schemas"]["CampaignParamsRequest"]["properties"]
    assert params["maker_funding_sol"]["type"] == "string"
    assert "slippage_bps" in params
    # Every error answer is documented with the one error shape.
    error = schema["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "fields"]
    detail = paths["/v1/campaigns/{campaign_id}"]["get"]["responses"]
    assert set(detail) == {"200", "401", "404"}
    assert detail["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_it_publishes_run_status_changed_to_the_campaign_group(
    alice_setup, django_capture_on_commit_callbacks
):
    campaign = make_campaign(alice_setup, status="active")
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"campaign.{campaign.pk}", channel)

    with django_capture_on_commit_callbacks(execute=True):
        campaign_pause(campaign_id=campaign.pk, actor=alice_setup.user, reason="Lunch")

    assert async_to_sync(layer.receive)(channel) == {
        "type": "run_status_changed",
        "campaign_id": campaign.pk,
        "status": "paused",
        "status_reason": "Lunch",
        "run_id": campaign.runs.get().pk,
        "run_status": "paused",
    }
    async_to_sync(layer.group_discard)(f"campaign.{campaign.pk}", channel)
