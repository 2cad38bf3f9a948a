"""The operator console lists webhooks and deliveries but never shows a secret."""

import pytest

from apps.webhooks import services
from tests.factories import WebhookAttemptFactory, WebhookDeliveryFactory
from tests.support.mfa import login_verified

pytestmark = pytest.mark.django_db


def test_the_admin_never_shows_the_secret(client, carol, alice, public_dns):
    webhook, secret = services.webhook_create(
        owner=alice, url="https://hook.example.com/a", events=["campaign.started"]
    )
    delivery = WebhookDeliveryFactory(webhook=webhook)
    WebhookAttemptFactory(delivery=delivery, latency_ms=3)
    login_verified(client, carol)

    for url in (
        "/admin/webhooks/webhook/",
        f"/admin/webhooks/webhook/{webhook.pk}/change/",
        "/admin/webhooks/webhookdelivery/",
        f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert secret not in html and "encrypted_secret" not in html
