"""Settings → webhooks and notifications pages: owner, another user (404), anonymous."""

import pytest

from apps.webhooks import services
from apps.webhooks.models import NotificationPreferences, Webhook

pytestmark = pytest.mark.django_db

EVENTS = ["campaign.started"]


@pytest.fixture
def alice_hook(alice, public_dns):
    webhook, _ = services.webhook_create(
        owner=alice, url="https://hook.example.com/a", events=EVENTS
    )
    return webhook


def test_it_adds_a_webhook_and_shows_the_secret_once(client, alice, public_dns):
    client.force_login(alice)

    response = client.post(
        "/settings/webhooks/", {"url": "https://hook.example.com/new", "events": EVENTS}
    )

    assert response.status_code == 200
    webhook = Webhook.objects.get()
    secret = services.webhook_secret(webhook=webhook)
    assert secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    for page in ("/settings/webhooks/", f"/settings/webhooks/{webhook.pk}/"):
        assert secret not in client.get(page).content.decode()


def test_it_refuses_a_private_url_with_a_clear_message(client, alice):
    client.force_login(alice)

    response = client.post("/settings/webhooks/", {"url": "http://127.0.0.1/x", "events": EVENTS})

    assert response.status_code == 200
    assert "a loopback address: webhooks must be public" in response.content.decode()
    assert not Webhook.objects.exists()


def test_the_pages_show_the_owner_her_webhook(client, alice, alice_hook):
    client.force_login(alice)
    assert alice_hook.url in client.get("/settings/webhooks/").content.decode()
    detail = client.get(f"/settings/webhooks/{alice_hook.pk}/").content.decode()
    assert 'id="delivery-log"' in detail and 'id="webhook-test-result"' in detail
    partial = client.get(f"/settings/webhooks/{alice_hook.pk}/deliveries/", HTTP_HX_REQUEST="true")
    assert partial.content.decode().lstrip().startswith('<section id="delivery-log">')
    plain = client.get(f"/settings/webhooks/{alice_hook.pk}/deliveries/")
    assert plain.status_code == 302


def test_bob_gets_404_for_alices_webhook_pages(client, bob, alice_hook):
    client.force_login(bob)
    base = f"/settings/webhooks/{alice_hook.pk}"
    assert alice_hook.url not in client.get("/settings/webhooks/").content.decode()
    assert client.get(f"{base}/").status_code == 404
    assert (
        client.post(f"{base}/", {"url": "https://x.example.com", "events": EVENTS}).status_code
        == 404
    )
    assert client.post(f"{base}/test/").status_code == 404
    assert client.post(f"{base}/test/", HTTP_HX_REQUEST="true").status_code == 404
    assert client.post(f"{base}/rotate/").status_code == 404
    assert client.post(f"{base}/delete/").status_code == 404
    assert client.get(f"{base}/deliveries/", HTTP_HX_REQUEST="true").status_code == 404
    alice_hook.refresh_from_db()
    assert (alice_hook.url, alice_hook.active) == ("https://hook.example.com/a", True)


def test_anonymous_is_sent_to_sign_in(client, alice_hook):
    for url in (
        "/settings/webhooks/",
        f"/settings/webhooks/{alice_hook.pk}/",
        "/settings/notifications/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/" in response["Location"]


@pytest.mark.django_db(transaction=True)
def test_the_test_button_shows_status_and_latency(client, alice, receiver):
    webhook, _ = services.webhook_create(owner=alice, url=receiver.url, events=EVENTS)
    client.force_login(alice)

    response = client.post(f"/settings/webhooks/{webhook.pk}/test/", HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="webhook-test-result"')
    assert "Ping answered 200 in" in html
    assert len(receiver.requests) == 1
    full = client.post(f"/settings/webhooks/{webhook.pk}/test/")
    assert full.status_code == 302


def test_it_rotates_and_deletes_from_the_pages(client, alice, alice_hook):
    client.force_login(alice)
    old = services.webhook_secret(webhook=alice_hook)

    response = client.post(f"/settings/webhooks/{alice_hook.pk}/rotate/")

    alice_hook.refresh_from_db()
    new = services.webhook_secret(webhook=alice_hook)
    assert new != old and new in response.content.decode()
    assert client.post(f"/settings/webhooks/{alice_hook.pk}/delete/").status_code == 302
    assert not Webhook.objects.exists()


def test_it_saves_the_notification_preferences(client, alice):
    client.force_login(alice)
    assert client.get("/settings/notifications/").status_code == 200

    response = client.post(
        "/settings/notifications/", {"campaign_started": "on", "daily_summary": "on"}
    )

    assert response.status_code == 302
    prefs = NotificationPreferences.objects.get(user=alice)
    assert (prefs.campaign_started, prefs.campaign_completed, prefs.daily_summary) == (
        True, False, True,
    )  # fmt: skip


def test_the_docs_page_gives_the_recipe(client, alice):
    client.force_login(alice)
    html = client.get("/settings/webhooks/docs/").content.decode()
    assert "X-Volumebot-Signature" in html and "hmac.compare_digest" in html
