"""Every API list pages with a cursor in a stable order (ties broken by id), has a default and a
maximum page size, answers in a constant number of queries however many rows there are, and
documents all of it in the OpenAPI schema."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.campaigns.models import Campaign
from apps.core.pagination import PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX
from apps.execution.models import Execution
from apps.tokens.models import PoolSelection, Token
from apps.wallets.models import Wallet
from apps.webhooks.models import Webhook, WebhookDelivery
from apps.webhooks.services import webhook_create
from tests.factories import (
    ExecutionFactory,
    JobFactory,
    PoolFactory,
    TokenFactory,
    WalletFactory,
    WebhookAttemptFactory,
    WebhookDeliveryFactory,
)
from tests.support.campaigns import Setup, make_campaign

STAMP = timezone.now() - timedelta(hours=1)


class Lists:
    """Alice's rows of one list endpoint: `add(n)` makes n more (all with one creation time,
    so only the id orders them), `url` is the endpoint, `expected()` the ids in list order."""

    def __init__(self, setup: Setup, kind: str):
        self.setup, self.kind = setup, kind
        # The set-up's own wallet, token and pool selection tie with the rows added here too.
        Wallet.objects.filter(owner=setup.user).update(created_at=STAMP)
        PoolSelection.objects.filter(owner=setup.user).update(created_at=STAMP)
        Token.objects.filter(pk=setup.token.pk).update(symbol="SAME")
        self.webhook = None
        self.campaign = None
        if kind == "deliveries":
            self.webhook = _webhook(setup.user)
        if kind == "logs":
            self.campaign = make_campaign(setup, status="active")
        self.count = 0

    @property
    def url(self) -> str:
        return {
            "campaigns": "/v1/campaigns",
            "wallets": "/v1/wallets",
            "tokens": "/v1/tokens",
            "pools": "/v1/pools/selected",
            "webhooks": "/v1/webhooks",
            "deliveries": f"/v1/webhooks/{self.webhook and self.webhook.pk}/deliveries",
            "logs": f"/v1/campaigns/{self.campaign and self.campaign.pk}/logs",
        }[self.kind]

    def add(self, n: int) -> None:
        owner = self.setup.user
        for _ in range(n):
            self.count += 1
            if self.kind == "campaigns":
                # Each with a run and every relation the serializer shows.
                row = make_campaign(self.setup, status="active", name=f"C{self.count}")
            elif self.kind == "wallets":
                row = WalletFactory(owner=owner, label=f"W{self.count}")
            elif self.kind == "tokens":
                # Same symbol; the mint (random) then the id order them.
                row = TokenFactory(symbol="SAME", name="SAME", linked_to=owner)
            elif self.kind == "pools":
                token = TokenFactory(symbol="SAME", name="SAME")
                row = PoolFactory(token=token, selected_by=owner).selections.get()
            elif self.kind == "webhooks":
                row = _webhook(owner)
            elif self.kind == "deliveries":
                row = WebhookDeliveryFactory(
                    webhook=self.webhook, event_type="run.stats", event_at=STAMP, status="failed"
                )
                for number in (1, 2):
                    WebhookAttemptFactory(delivery=row, number=number)
            else:
                run = self.campaign.runs.get()
                job = JobFactory(run=run)
                row = ExecutionFactory(job=job, wallet=self.setup.wallet)
            type(row).objects.filter(pk=row.pk).update(created_at=STAMP)

    def expected(self) -> list[int]:
        owner = self.setup.user
        if self.kind == "campaigns":
            ids = Campaign.objects.filter(owner=owner).values_list("id", flat=True)
            return sorted(ids, reverse=True)
        if self.kind == "wallets":
            return sorted(Wallet.objects.filter(owner=owner).values_list("id", flat=True))
        if self.kind == "tokens":
            # Mints compare in the database's collation, so ask it for their order.
            tokens = Token.objects.filter(links__owner=owner).order_by("mint")
            return list(tokens.values_list("id", flat=True))
        model = {
            "pools": PoolSelection.objects.filter(owner=owner),
            "webhooks": Webhook.objects.filter(owner=owner),
            "deliveries": WebhookDelivery.objects.filter(webhook=self.webhook),
            "logs": Execution.objects.filter(run__campaign=self.campaign),
        }[self.kind]
        return sorted(model.values_list("id", flat=True), reverse=True)


def _webhook(owner) -> Webhook:
    # A loopback receiver is allowed only while it is registered; nothing is delivered here.
    with override_settings(WEBHOOKS_ALLOW_PRIVATE=True):
        webhook, _ = webhook_create(owner=owner, url="http://127.0.0.1:9/h", events=["run.stats"])
    return webhook


KINDS = ["campaigns", "wallets", "tokens", "pools", "webhooks", "deliveries", "logs"]


@pytest.fixture(params=KINDS)
def rows(request, alice_setup) -> Lists:
    return Lists(alice_setup, request.param)


def _walk(client, url: str, *, limit: int) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(url, query)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"results", "next_cursor"}
        pages.append([row["id"] for row in body["results"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_it_pages_through_every_row_once_in_a_stable_order(alice_api, rows):
    rows.add(5)
    expected = rows.expected()
    assert len(expected) >= 5  # the tokens and wallets lists also hold the set-up's own rows

    pages = _walk(alice_api, rows.url, limit=2)

    assert [row for page in pages for row in page] == expected
    assert [len(page) for page in pages[:-1]] == [2] * (len(pages) - 1)


def test_a_cursor_stays_valid_while_rows_are_added(alice_api, rows):
    rows.add(4)
    first = alice_api.get(rows.url, {"limit": 2}).json()
    before = rows.expected()

    rows.add(2)
    rest = _walk_from(alice_api, rows.url, cursor=first["next_cursor"])

    # The new rows sort after or before the old ones by id; the old rest is never skipped.
    seen = [row["id"] for row in first["results"]] + rest
    assert len(seen) == len(set(seen))
    assert set(before) <= set(seen)


def _walk_from(client, url: str, *, cursor: str) -> list[int]:
    ids = []
    while cursor:
        body = client.get(url, {"limit": 2, "cursor": cursor}).json()
        ids += [row["id"] for row in body["results"]]
        cursor = body["next_cursor"]
    return ids


def test_it_answers_in_the_same_number_of_queries_however_many_rows(alice_api, rows):
    rows.add(2)
    with CaptureQueriesContext(connection) as few:
        small = alice_api.get(rows.url)
    rows.add(10)
    with CaptureQueriesContext(connection) as many:
        large = alice_api.get(rows.url)

    assert len(large.json()["results"]) == len(small.json()["results"]) + 10
    assert len(many.captured_queries) == len(few.captured_queries), [
        q["sql"] for q in many.captured_queries
    ]


def test_it_shows_the_default_page_size_and_refuses_more_than_the_maximum(alice_api, alice):
    # Without set-up rows: alice's wallets are exactly these.
    for index in range(PAGE_SIZE_DEFAULT + 1):
        WalletFactory(owner=alice, kind="watch", label=str(index))

    first = alice_api.get("/v1/wallets").json()
    too_many = alice_api.get("/v1/wallets", {"limit": PAGE_SIZE_MAX + 1})

    assert len(first["results"]) == PAGE_SIZE_DEFAULT and first["next_cursor"]
    assert too_many.status_code == 400
    assert too_many.json()["error"]["fields"] == {
        "limit": [f"Ensure this value is less than or equal to {PAGE_SIZE_MAX}."]
    }
    rest = alice_api.get("/v1/wallets", {"cursor": first["next_cursor"]}).json()
    assert (len(rest["results"]), rest["next_cursor"]) == (1, None)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",  # not base64
        "bm9wZQ",  # base64 of "nope": not JSON
        "WzFd",  # [1]: too few values for (created_at, id)
        "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwxXQ",  # a naive timestamp
        "WyJ5ZXN0ZXJkYXkiLDFd",  # not a timestamp
        "W3RydWUsMV0",  # [true, 1]
    ],
)
def test_it_refuses_a_forged_cursor_with_a_clear_error(alice_api, alice_setup, cursor):
    make_campaign(alice_setup)

    response = alice_api.get("/v1/campaigns", {"cursor": cursor})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "cursor": ["This cursor is not valid: start again from the first page."]
    }


def test_another_users_cursor_shows_only_your_rows(alice_api, bob_api, alice_setup, bob_setup):
    make_campaign(alice_setup, name="A1")
    make_campaign(alice_setup, name="A2")
    for index in range(3):
        make_campaign(bob_setup, name=f"B{index}")
    bobs_cursor = bob_api.get("/v1/campaigns", {"limit": 1}).json()["next_cursor"]

    listed = alice_api.get("/v1/campaigns", {"cursor": bobs_cursor}).json()

    assert {row["name"] for row in listed["results"]} <= {"A1", "A2"}


def test_the_schema_documents_the_page_shape_and_its_parameters(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    lists = [
        "/v1/campaigns", "/v1/wallets", "/v1/tokens", "/v1/pools/selected", "/v1/webhooks",
        "/v1/webhooks/{webhook_id}/deliveries", "/v1/campaigns/{campaign_id}/logs",
    ]  # fmt: skip
    for path in lists:
        operation = schema["paths"][path]["get"]
        parameters = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
        assert parameters["limit"]["schema"] == {
            "type": "integer", "minimum": 1, "maximum": PAGE_SIZE_MAX, "default": PAGE_SIZE_DEFAULT,
        }  # fmt: skip
        assert parameters["cursor"]["schema"]["type"] == "string"
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        page = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        assert set(page["properties"]) == {"results", "next_cursor"}, path
        assert page["properties"]["results"]["type"] == "array"
        assert page["properties"]["next_cursor"]["nullable"] is True
