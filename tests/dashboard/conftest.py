"""Dashboard fixtures: a signed-in client per persona (the set-ups are the root conftest's;
campaigns and the engine's rows come from tests/support/campaigns.py)."""

import pytest
from django.test import Client


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob):
    client = Client()
    client.force_login(bob)
    return client
