from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.models import AuditEvent
from apps.core.sql import update_rows
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_update_rows_writes_each_row_its_own_values_in_one_statement():
    user = UserFactory()
    events = [
        AuditEvent.objects.create(actor=user, action="a", entity="e", entity_id=str(n))
        for n in range(3)
    ]
    untouched = AuditEvent.objects.create(actor=user, action="keep", entity="e")
    events[0].action, events[0].metadata, events[0].ip = "x", {"quote": 'it\'s "q"'}, "10.0.0.1"
    events[1].action, events[1].metadata, events[1].ip, events[1].actor = "y", [1, None], None, None
    events[2].created_at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    events[2].entity_id = "ignored: not among the fields"

    with CaptureQueriesContext(connection) as queries:
        count = update_rows(events, ["action", "metadata", "ip", "actor", "created_at"])
    assert count == 3 and len(queries) == 1

    rows = {e.pk: e for e in AuditEvent.objects.all()}
    assert (rows[events[0].pk].action, rows[events[0].pk].metadata) == ("x", {"quote": 'it\'s "q"'})
    assert rows[events[0].pk].ip == "10.0.0.1" and rows[events[0].pk].actor_id == user.pk
    assert (rows[events[1].pk].metadata, rows[events[1].pk].ip) == ([1, None], None)
    assert rows[events[1].pk].actor_id is None
    assert rows[events[2].pk].created_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert rows[events[2].pk].entity_id == "2"
    assert rows[untouched.pk].action == "keep"


def test_update_rows_of_nothing_sends_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert update_rows([], ["action"]) == 0
    assert not queries
