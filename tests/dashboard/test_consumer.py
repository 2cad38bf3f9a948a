"""The campaign WebSocket: who may subscribe, what a (re)connecting page gets first, and the
engine's events forwarded in order as out-of-band partials."""

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from apps.accounts.models import User
from apps.accounts.services import user_tokens_revoke
from apps.accounts.tokens import StampedRefreshToken
from apps.campaigns import live, realtime, services, transitions
from apps.campaigns.live import feeds
from apps.core.realtime import group_send_on_commit
from tests.support.campaigns import SOL, Setup, make_campaign, make_job, make_trade
from tests.support.web import ORIGIN, session_headers
from volumebot.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

LIVE_PARTS = list(realtime.LIVE_PARTS)


def sync(function):
    return sync_to_async(function)


async def connect(path: str, headers) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await socket.connect(timeout=5)
    assert connected, code
    return socket


def engine_event(campaign, event: str, **extra) -> None:
    """An event exactly as apps.execution.realtime publishes it."""
    group_send_on_commit(
        f"campaign.{campaign.pk}",
        {"type": "campaign.event", "event": event, "campaign_id": campaign.pk,
         "run_id": campaign.current_run.pk, **extra},
    )  # fmt: skip


@pytest.fixture(autouse=True)
async def _close_consumer_connections():
    yield
    # The consumers' database calls run in asgiref's one thread-sensitive executor thread: close
    # its connection so the test database can be dropped at the end of the session.
    await database_sync_to_async(connections.close_all)()


@pytest.fixture
def active(alice):
    return make_campaign(Setup(alice), status="active")


async def test_it_sends_the_current_state_first_as_oob_partials(alice, active):
    await sync(make_trade)(await sync(lambda: active.current_run)(), lamports=SOL // 4)
    socket = await connect(f"/ws/campaigns/{active.pk}/", await sync(session_headers)(alice))

    first = await socket.receive_json_from(timeout=5)

    assert first["type"] == "state"
    for part in LIVE_PARTS:
        assert f'id="{part}" ' in first["html"] or f'id="{part}"' in first["html"]
    assert first["html"].count('hx-swap-oob="true"') == len(LIVE_PARTS)
    assert "0.250000000 SOL" in first["html"]
    await socket.disconnect()


async def test_the_owner_receives_the_engines_events_in_order(alice, active):
    socket = await connect(f"/ws/campaigns/{active.pk}/", await sync(session_headers)(alice))
    assert (await socket.receive_json_from(timeout=5))["type"] == "state"
    run = await sync(lambda: active.current_run)()
    job = await sync(make_job)(run, type="trade_buy", status="processing")
    trade = await sync(make_trade)(run, lamports=SOL // 2)

    await sync(engine_event)(active, "job_started", job_id=job.pk, job_type="trade_buy")
    await sync(engine_event)(
        active, "job_completed", job_id=trade.job_id, job_type="trade_buy", status="succeeded",
        side="buy", signature=trade.signature, sol_lamports=SOL // 2, token_raw=123,
        fee_lamports=5000,
    )  # fmt: skip
    await sync(engine_event)(active, "stats", volume_lamports=SOL // 2, jobs={"succeeded": 1})
    await sync(transitions.campaign_pause)(campaign_id=active.pk, actor=alice, owner=alice)

    received = [await socket.receive_json_from(timeout=5) for _ in range(4)]
    assert [m["type"] for m in received] == [
        "job_started", "job_completed", "stats", "run_status_changed",
    ]  # fmt: skip
    started, completed, stats, paused = received
    assert started["html"].lstrip().startswith('<section id="job-counts"')
    assert started["event"]["job_id"] == job.pk
    assert f'id="trade-{trade.pk}"' in completed["html"]
    assert completed["event"]["signature"] == trade.signature
    # The trade's own row, to go first in the feed (in a template: a bare row would not survive
    # parsing), not the whole feed again.
    pushed = '<template id="trade-push" hx-swap-oob="afterbegin:#trade-feed-rows"'
    assert pushed in completed["html"]
    assert f'<tr id="trade-{trade.pk}">' in completed["html"]
    assert '<section id="trade-feed"' not in completed["html"]
    assert '<section id="run-charts"' in completed["html"] and "<svg" in completed["html"]
    assert '<section id="run-charts"' in stats["html"]
    assert '<section id="campaign-head"' in paused["html"] and ">Resume<" in paused["html"]
    assert paused["event"]["run_status"] == "paused"
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_a_reconnecting_page_gets_the_current_state_first(alice, active):
    path = f"/ws/campaigns/{active.pk}/"
    socket = await connect(path, await sync(session_headers)(alice))
    assert "Paused" not in (await socket.receive_json_from(timeout=5))["html"]
    await socket.disconnect()
    # While the page is away: a trade lands and the campaign is paused.
    trade = await sync(make_trade)(await sync(lambda: active.current_run)(), lamports=SOL)
    await sync(transitions.campaign_pause)(campaign_id=active.pk, actor=alice, owner=alice)

    socket = await connect(path, await sync(session_headers)(alice))
    first = await socket.receive_json_from(timeout=5)

    assert first["type"] == "state"
    assert f'id="trade-{trade.pk}"' in first["html"]
    assert '<span class="badge status-paused" id="campaign-status">Paused</span>' in first["html"]
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_it_refuses_another_users_campaign_with_4403(bob, active):
    socket = WebsocketCommunicator(
        application, f"/ws/campaigns/{active.pk}/", headers=await sync(session_headers)(bob)
    )

    connected, code = await socket.connect(timeout=5)

    assert (connected, code) == (False, 4403)


async def test_it_refuses_anonymous_and_missing_campaigns_with_4403(alice, active):
    anonymous = WebsocketCommunicator(application, f"/ws/campaigns/{active.pk}/", [ORIGIN])
    missing = WebsocketCommunicator(
        application, f"/ws/campaigns/{active.pk + 1000}/", await sync(session_headers)(alice)
    )

    assert await anonymous.connect(timeout=5) == (False, 4403)
    assert await missing.connect(timeout=5) == (False, 4403)


async def test_an_api_client_subscribes_with_a_jwt_in_the_query(alice, bob, active):
    token = await sync(lambda user: str(StampedRefreshToken.for_user(user).access_token))(alice)
    bob_token = await sync(lambda user: str(StampedRefreshToken.for_user(user).access_token))(bob)
    path = f"/ws/campaigns/{active.pk}/"

    socket = await connect(f"{path}?token={token}", [ORIGIN])
    assert (await socket.receive_json_from(timeout=5))["type"] == "state"
    await sync(engine_event)(active, "stats", jobs={})
    assert (await socket.receive_json_from(timeout=5))["type"] == "stats"
    await socket.disconnect()

    for bad in (bob_token, "not-a-token", token[:-4] + "AAAA"):
        refused = WebsocketCommunicator(application, f"{path}?token={bad}", [ORIGIN])
        assert await refused.connect(timeout=5) == (False, 4403), bad


async def test_a_revoked_jwt_cannot_subscribe(alice, active):
    token = await sync(lambda user: str(StampedRefreshToken.for_user(user).access_token))(alice)
    await sync(user_tokens_revoke)(user_id=alice.pk, actor=alice, reason="test")

    refused = WebsocketCommunicator(
        application, f"/ws/campaigns/{active.pk}/?token={token}", [ORIGIN]
    )

    assert await refused.connect(timeout=5) == (False, 4403)


def access_token(user) -> str:
    return str(StampedRefreshToken.for_user(user).access_token)


@pytest.mark.parametrize(
    "headers", [[], [(b"origin", b"https://elsewhere.example")]], ids=["no-origin", "foreign"]
)
async def test_a_token_client_needs_no_origin_for_its_own_campaign(alice, active, headers):
    # API clients (scripts, servers) send no Origin; a token is not ambient authority, so
    # where the client runs does not matter.
    token = await sync(access_token)(alice)

    socket = await connect(f"/ws/campaigns/{active.pk}/?token={token}", headers)

    assert (await socket.receive_json_from(timeout=5))["type"] == "state"
    await sync(engine_event)(active, "stats", jobs={"succeeded": 1})
    message = await socket.receive_json_from(timeout=5)
    assert (message["type"], message["event"]["jobs"]) == ("stats", {"succeeded": 1})
    await socket.disconnect()


async def test_a_token_client_without_origin_is_closed_for_another_users_campaign(bob, active):
    token = await sync(access_token)(bob)
    socket = WebsocketCommunicator(application, f"/ws/campaigns/{active.pk}/?token={token}", [])

    assert await socket.connect(timeout=5) == (False, 4403)
    await sync(engine_event)(active, "stats", jobs={})
    assert await socket.receive_nothing(timeout=0.3)


@pytest.mark.parametrize(
    "origin", [b"https://evil.example", None], ids=["foreign-origin", "no-origin"]
)
async def test_a_cookie_session_from_another_origin_is_refused(alice, active, origin):
    cookie, _ = await sync(session_headers)(alice)
    headers = [cookie] + ([(b"origin", origin)] if origin else [])
    socket = WebsocketCommunicator(application, f"/ws/campaigns/{active.pk}/", headers)

    connected, _ = await socket.connect(timeout=5)

    assert connected is False
    await sync(engine_event)(active, "stats", jobs={})
    assert await socket.receive_nothing(timeout=0.3)


async def test_a_foreign_page_cannot_borrow_the_session_by_adding_a_junk_token(alice, active):
    # With `?token=` the Origin check is skipped, so the session must not count at all.
    cookie, _ = await sync(session_headers)(alice)
    for token in ("junk", ""):
        socket = WebsocketCommunicator(
            application, f"/ws/campaigns/{active.pk}/?token={token}",
            [cookie, (b"origin", b"https://evil.example")],
        )  # fmt: skip
        assert await socket.connect(timeout=5) == (False, 4403), token


async def test_it_closes_a_socket_that_sends_an_oversized_message(alice, active, settings):
    settings.WEBSOCKET_MAX_MESSAGE_BYTES = 64
    socket = await connect(f"/ws/campaigns/{active.pk}/", await sync(session_headers)(alice))
    await socket.receive_json_from(timeout=5)

    # Small messages are ignored (the socket keeps listening), a large one closes it.
    await socket.send_to(text_data='{"ping": 1}')
    await sync(engine_event)(active, "stats", jobs={})
    assert (await socket.receive_json_from(timeout=5))["type"] == "stats"
    await socket.send_to(text_data="x" * 65)
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 1009}


async def test_other_campaigns_events_do_not_reach_the_socket(alice, active):
    other = await sync(make_campaign)(await sync(Setup)(alice), status="active")
    socket = await connect(f"/ws/campaigns/{active.pk}/", await sync(session_headers)(alice))
    await socket.receive_json_from(timeout=5)

    await sync(engine_event)(other, "stats", jobs={})

    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


async def test_it_closes_the_socket_when_the_campaign_is_deleted(alice, alice_setup_draft):
    campaign = alice_setup_draft
    socket = await connect(f"/ws/campaigns/{campaign.pk}/", await sync(session_headers)(alice))
    await socket.receive_json_from(timeout=5)

    await sync(services.campaign_delete)(owner=alice, campaign_id=campaign.pk)
    await sync(group_send_on_commit)(
        f"campaign.{campaign.pk}", {"type": "campaign.event", "event": "stats", "jobs": {}}
    )

    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


@pytest.fixture
def alice_setup_draft(alice):
    return make_campaign(Setup(alice))


async def test_a_trade_event_carries_one_row_however_long_the_run(alice, active):
    run = await sync(lambda: active.current_run)()
    trades = [await sync(make_trade)(run, lamports=SOL // 100) for _ in range(30)]
    socket = await connect(f"/ws/campaigns/{active.pk}/", await sync(session_headers)(alice))
    assert (await socket.receive_json_from(timeout=5))["html"].count('<tr id="trade-') == 20

    last = trades[-1]
    await sync(engine_event)(
        active, "job_completed", job_id=last.job_id, job_type="trade_buy", status="succeeded",
        side="buy", signature=last.signature, sol_lamports=SOL // 100,
    )  # fmt: skip

    html = (await socket.receive_json_from(timeout=5))["html"]
    assert html.count('<tr id="trade-') == 1 and f'<tr id="trade-{last.pk}"' in html
    await socket.disconnect()


async def test_the_pages_of_one_campaign_share_one_render_of_each_event(alice, active):
    path, headers = f"/ws/campaigns/{active.pk}/", await sync(session_headers)(alice)
    first, second = await connect(path, headers), await connect(path, headers)
    for socket in (first, second):
        assert (await socket.receive_json_from(timeout=5))["type"] == "state"
    renders = feeds()[active.pk].renders

    await sync(engine_event)(active, "stats", volume_lamports=SOL, jobs={"succeeded": 2})

    one, other = await first.receive_json_from(timeout=5), await second.receive_json_from(timeout=5)
    assert one == other and one["type"] == "stats" and '<section id="run-stats"' in one["html"]
    assert feeds()[active.pk].renders == renders + 1
    await first.disconnect()
    await second.disconnect()


async def test_ownership_is_checked_again_once_the_recheck_interval_passed(alice, active, settings):
    socket = await connect(f"/ws/campaigns/{active.pk}/", await sync(session_headers)(alice))
    await socket.receive_json_from(timeout=5)
    # An operator suspends alice while her page is open.
    await sync(lambda: User.objects.filter(pk=alice.pk).update(is_active=False))()

    await sync(engine_event)(active, "stats", jobs={})  # within the interval: not re-checked
    assert (await socket.receive_json_from(timeout=5))["type"] == "stats"
    settings.LIVE_OWNERSHIP_RECHECK_S = 0
    await sync(engine_event)(active, "stats", jobs={})

    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


async def test_a_process_subscribes_once_per_campaign_and_stops_with_its_last_page(alice, active):
    path, headers = f"/ws/campaigns/{active.pk}/", await sync(session_headers)(alice)
    first, second = await connect(path, headers), await connect(path, headers)
    for socket in (first, second):
        await socket.receive_json_from(timeout=5)

    assert len(feeds()[active.pk].sockets) == 2
    await first.disconnect()
    assert len(feeds()[active.pk].sockets) == 1
    await second.disconnect()
    assert active.pk not in feeds()


async def test_a_page_too_far_behind_is_closed_to_start_again(alice, active, monkeypatch):
    monkeypatch.setattr(live, "SOCKET_BACKLOG", 2)
    socket = await connect(f"/ws/campaigns/{active.pk}/", await sync(session_headers)(alice))
    await socket.receive_json_from(timeout=5)
    (consumer,) = feeds()[active.pk].sockets

    # Three messages queued before its sender could take one: the third finds it too far behind.
    for _ in range(3):
        consumer.deliver("stats", "<p>x</p>", {"jobs": {}})

    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": 1013}
