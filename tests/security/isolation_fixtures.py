"""Shared set-up for the security tests (imported by name, not a conftest, so that the other
files in tests/security keep their own conftest free).

`build_world(alice)`: alice's objects of every kind a route can be scoped to (a token linked
to her, its pool, her pool selection, a custodial wallet, a draft campaign), built by the
campaigns tests' own set-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.test import override_settings
from django.utils import timezone

from apps.campaigns.models import Campaign
from apps.tokens.models import PoolSelection
from apps.webhooks.models import Webhook, WebhookDelivery
from apps.webhooks.services import webhook_create
from tests.support.campaigns import Setup, make_campaign


@dataclass
class World:
    setup: Setup
    campaign: Campaign
    webhook: Webhook
    delivery: WebhookDelivery

    @property
    def owner(self):
        return self.setup.user

    @property
    def selection(self) -> PoolSelection:
        return PoolSelection.objects.get(owner=self.owner, pool=self.setup.pool)


def build_world(owner) -> World:
    """Call from a `world` fixture in the test module (a fixture imported by name would be
    redefined by every test that requests it)."""
    setup = Setup(owner)
    # A local receiver, allowed only while it is registered: a test or re-send from the matrix
    # is then refused by the delivery-time SSRF guard, so nothing leaves the machine.
    with override_settings(WEBHOOKS_ALLOW_PRIVATE=True):
        webhook, _ = webhook_create(
            owner=owner, url="http://127.0.0.1:9/hook", events=["run.stats"]
        )
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, event_type="run.stats", event_at=timezone.now(), status="failed"
    )
    return World(setup=setup, campaign=make_campaign(setup), webhook=webhook, delivery=delivery)
