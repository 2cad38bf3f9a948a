from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.admin_ops.models import Alert
from apps.core.models import AuditEvent
from apps.core.sql import add_to_rows, update_rows
from tests.factories import AlertFactory, AuditEventFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_update_rows_writes_each_row_its_own_values_in_one_statement():
    user = UserFactory()
    events = [AuditEventFactory(actor=user, action="a", entity_id=str(n)) for n in range(3)]
    untouched = AuditEventFactory(actor=user, action="keep")
    events[0].action, events[0].metadata, events[0].ip = "x", {"quote": 'it\'s "q"'}, "10.0.0.1"
    events[1].action, events[1].metadata, events[1].ip, events[1].actor = "y", [1, None], None, None
    events[2].created_at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    events[2].entity_id = "ignored: not among the fields"

    with CaptureQueriesContext(connection) as queries:
        updated = update_rows(events, ["action", "metadata", "ip", "actor", "created_at"])
    assert updated == {e.pk for e in events} and len(queries) == 1

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
        assert update_rows([], ["action"]) == set()
        assert add_to_rows(Alert, {}) == {}
    assert not queries


def test_update_rows_unless_leaves_alone_the_rows_holding_one_of_the_values():
    user = UserFactory()
    events = [AuditEventFactory(actor=user, action=action) for action in ("open", "done", "open")]
    for event in events:
        event.entity = "changed"

    with CaptureQueriesContext(connection) as queries:
        updated = update_rows(events, ["entity"], unless=("action", ["done", "gone"]))
    assert updated == {events[0].pk, events[2].pk} and len(queries) == 1
    entities = dict(AuditEvent.objects.values_list("pk", "entity"))
    assert [entities[e.pk] for e in events] == ["changed", "e", "changed"]


def test_add_to_rows_adds_each_row_its_own_amounts_in_one_statement():
    user = UserFactory()
    alerts = [AlertFactory(user=user, message=str(n)) for n in range(3)]

    with CaptureQueriesContext(connection) as queries:
        rows = add_to_rows(
            Alert, {alerts[0].pk: {"count": 2}, alerts[1].pk: {"count": 10**6}},
            returning=["count", "message"],
        )  # fmt: skip
    assert len(queries) == 1
    assert rows == {
        alerts[0].pk: {"count": 3, "message": "0"},
        alerts[1].pk: {"count": 10**6 + 1, "message": "1"},
    }
    counts = dict(Alert.objects.values_list("pk", "count"))
    assert [counts[a.pk] for a in alerts] == [3, 10**6 + 1, 1]
