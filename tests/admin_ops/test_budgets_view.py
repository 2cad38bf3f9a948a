"""The control room's view of the shared request budgets (per endpoint and method class: the
limit, the tokens left, the use, waits and 429s, from every worker through Redis) and of each
running campaign's fair share; staff only, and never a Jito UUID."""

import re

import pytest
from django.urls import reverse

from apps.chain.rpc import run_sync
from apps.core.budgets import jito_budget, rpc_budget
from apps.execution.fairshare import Demand, run_share_per_s
from tests.support.campaigns import make_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def budgets(settings):
    settings.SOLANA_RPC_URLS = {**settings.SOLANA_RPC_URLS, "localnet": ["http://127.0.0.1:1"]}
    settings.SOLANA_RPC_BUDGETS = {**settings.SOLANA_RPC_BUDGETS, "localnet": "all=50,send=0.01/3"}
    settings.JITO_ENGINES = "loc-a=localnet,secret-uuid-a;loc-b=localnet,secret-uuid-b"
    settings.JITO_BUDGETS = "loc-a:bundle=0.01/2;loc-b:bundle=2"
    return rpc_budget(network="localnet", endpoints=["localnet-0"]), jito_budget()


def row(content: str, row_id: str) -> list[str]:
    """The text of each cell of the table row `row_id`."""
    match = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', content, re.S)
    assert match, f"no row {row_id}"
    cells = re.findall(r"<td>(.*?)</td>", match.group(1), re.S)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]


def test_it_shows_each_endpoints_budget_use_waits_and_429s(operator, budgets):
    rpc, jito = budgets
    for _ in range(3):
        run_sync(rpc.acquire(endpoint="localnet-0", method_class="send"))
    # A request that had waited half a second for its token (as `acquire` reports it).
    rpc.reserve(endpoint="localnet-0", method_class="read", waited_s=0.5)
    rpc.pause(endpoint="localnet-0", seconds=30)  # the provider answered 429
    jito.reserve(endpoint="loc-a", method_class="bundle")

    content = operator.get(reverse("admin:control_room")).content.decode()

    # localnet-0's `send` bucket: a burst of 3 refilled once per 100 s, the 3 sends took it.
    budget, endpoint, klass, limit, tokens, used, waits, mean, r429, state = row(
        content, "budget-localnet-localnet-0-send"
    )
    assert (budget, endpoint, klass) == ("localnet", "localnet-0", "send")
    assert limit == "0.01/s (burst 3)"
    assert float(tokens) < 1 and used.startswith("3 (")
    assert (waits, r429) == ("0", "1") and state.startswith("paused")
    # Its `all` bucket counts every class: 4 requests, one of which waited 500 ms.
    _, _, _, limit, _, used, waits, mean, r429, _ = row(content, "budget-localnet-localnet-0-all")
    assert (limit, waits, mean, r429) == ("50.0/s (burst 5)", "1", "500 ms", "1")
    assert used.startswith("4 (")
    # Each Jito engine has its own budget, named, its UUID never shown.
    _, endpoint, klass, limit, tokens, used, *_, state = row(content, "budget-jito-loc-a-bundle")
    assert (endpoint, klass, limit, state) == ("loc-a", "bundle", "0.01/s (burst 2)", "open")
    assert used.startswith("1 (") and float(tokens) < 2
    assert row(content, "budget-jito-loc-b-bundle")[4] == "1.0"  # full: burst 1, unused
    assert "secret-uuid" not in content


def test_it_shows_each_running_campaigns_fair_share_and_whether_it_is_slowed(
    operator, budgets, settings, alice, bob
):
    settings.SOLANA_RPC_BUDGETS = {**settings.SOLANA_RPC_BUDGETS, "localnet": "all=50,send=1"}
    large = make_campaign(alice, status="active", name="Large").runs.get()
    small = make_campaign(bob, status="active", name="Small").runs.get()
    paused = make_campaign(bob, status="paused", name="Paused").runs.get()
    # 1 trade/s to share: the small run asks 0.1 and gets it; the rest is split between the
    # large one and the paused one (its last registration counts until it goes stale).
    for run, asks in ((large, 2.0), (small, 0.1), (paused, 0.5)):
        demand = Demand(run.pk, run.campaign.owner_id, asks)
        run_share_per_s(network="localnet", demand=demand, user_cap_per_s=None)

    content = operator.get(reverse("admin:control_room")).content.decode()

    network, campaign, owner, asks, share, capacity, state = row(content, f"share-{large.pk}")
    assert (network, campaign, owner) == ("localnet", "Large", alice.email)
    assert (asks, capacity) == ("120.0 trades/min", "60.0 trades/min")
    assert (share, state) == ("27.0 trades/min", "slowed by the budget")
    *_, share, _, state = row(content, f"share-{small.pk}")
    assert (share, state) == ("6.0 trades/min", "within its share")
    # A paused run is not running: not listed, though its planner registered last window.
    assert f'id="share-{paused.pk}"' not in content


@pytest.mark.parametrize("who", ["anonymous", "alice"])
def test_only_staff_see_the_budgets(client, alice, budgets, who):
    if who == "alice":
        client.force_login(alice)

    response = client.get(reverse("admin:control_room"))

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login/")
