import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.accounts.tokens import StampedRefreshToken
from apps.core.realtime import notice_publish
from volumebot.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    return [(b"cookie", cookie.encode()), (b"origin", b"http://testserver")]


async def test_it_delivers_a_notice_through_the_redis_channel_layer(alice):
    headers = await sync(session_headers)(alice)
    communicator = WebsocketCommunicator(application, "/ws/notices/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected

    await sync(notice_publish)(text="All campaigns are paused by an operator.", level="warning")

    assert await communicator.receive_json_from(timeout=5) == {
        "type": "notice",
        "level": "warning",
        "text": "All campaigns are paused by an operator.",
    }
    await communicator.disconnect()


async def _only_alice_gets_her_notice(alice, alice_socket, bob_socket):
    """Both sockets connect; a notice published for alice reaches her socket and not bob's."""
    assert (await alice_socket.connect())[0]
    assert (await bob_socket.connect())[0]

    await sync(notice_publish)(text="Your wallet is low.", user_id=alice.pk)

    assert (await alice_socket.receive_json_from(timeout=5))["text"] == "Your wallet is low."
    assert await bob_socket.receive_nothing(timeout=0.5)
    await alice_socket.disconnect()
    await bob_socket.disconnect()


async def test_it_sends_a_user_notice_only_to_that_user(alice, bob):
    alice_socket = WebsocketCommunicator(
        application, "/ws/notices/", headers=await sync(session_headers)(alice)
    )
    bob_socket = WebsocketCommunicator(
        application, "/ws/notices/", headers=await sync(session_headers)(bob)
    )
    await _only_alice_gets_her_notice(alice, alice_socket, bob_socket)


async def test_it_closes_anonymous_sockets_with_a_policy_code():
    communicator = WebsocketCommunicator(
        application, "/ws/notices/", headers=[(b"origin", b"http://testserver")]
    )

    connected, code = await communicator.connect()

    assert not connected
    assert code == 4403


def sync(function):
    from asgiref.sync import sync_to_async

    return sync_to_async(function)


async def test_an_api_client_gets_its_notices_with_a_token_and_no_origin(alice, bob):
    token = await sync(lambda: str(StampedRefreshToken.for_user(alice).access_token))()
    bobs = await sync(lambda: str(StampedRefreshToken.for_user(bob).access_token))()
    alice_socket = WebsocketCommunicator(application, f"/ws/notices/?token={token}", headers=[])
    bob_socket = WebsocketCommunicator(application, f"/ws/notices/?token={bobs}", headers=[])
    await _only_alice_gets_her_notice(alice, alice_socket, bob_socket)
