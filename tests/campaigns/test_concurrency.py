"""Concurrent start requests against real Postgres row locks create exactly one run."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.campaigns.models import CampaignRun
from apps.campaigns.services import campaign_start
from apps.core.models import AuditEvent
from tests.support.campaigns import make_campaign
from tests.support.web import bearer

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def test_it_creates_exactly_one_run_for_concurrent_starts(alice_setup, funded):
    campaign = make_campaign(alice_setup)
    barrier = threading.Barrier(THREADS)
    results, errors = [], []

    def start():
        try:
            barrier.wait(timeout=10)
            results.append(campaign_start(campaign_id=campaign.pk, actor=alice_setup.user).status)
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=start) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert results == ["active"] * THREADS
    assert CampaignRun.objects.filter(campaign=campaign).count() == 1
    assert AuditEvent.objects.filter(action="campaign.start").count() == 1


def test_it_creates_exactly_one_run_for_concurrent_api_starts(alice_setup, funded):
    campaign = make_campaign(alice_setup)
    barrier = threading.Barrier(THREADS)
    codes = []

    def start():
        client = APIClient()
        client.credentials(**bearer(alice_setup.user))
        try:
            barrier.wait(timeout=10)
            codes.append(client.post(f"/v1/campaigns/{campaign.pk}/start").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert codes == [200] * THREADS
    assert CampaignRun.objects.filter(campaign=campaign).count() == 1
    assert AuditEvent.objects.filter(action="campaign.start").count() == 1
