import os
from urllib.parse import urlsplit, urlunsplit

from django.db import connection


def database_url_for_tests() -> str:
    """DATABASE_URL pointing at this run's test database, for a server started as a subprocess
    (call it inside a test that has database access)."""
    url = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(url._replace(path="/" + connection.settings_dict["NAME"]))


def end_other_sessions() -> None:
    """End every other session on this run's test database (a server process's), so the
    database can be flushed or dropped."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
