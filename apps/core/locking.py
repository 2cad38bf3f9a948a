"""Postgres advisory locks and their key rule.

A lock key is 64 bits: its namespace in the high bits (`LOCK_SHIFT`), the id of the thing it
guards below. The namespaces are declared here, together, so two users can never pick the same
one. Session-level locks: Postgres releases them when the holder's connection dies, so a
crashed worker never blocks a job or a wallet for good.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from django.db import OperationalError, connection

# Namespaces: a job (held while a worker runs it), a maker wallet (one transaction in flight).
JOB_LOCK, WALLET_LOCK = 1, 2
LOCK_SHIFT = 48
LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock_timeout


def lock_key(namespace: int, key: int) -> int:
    return (namespace << LOCK_SHIFT) | key


def try_lock_sql(column: str) -> str:
    """`pg_try_advisory_lock` on `lock_key(namespace, <column>)` inside a query, the
    namespace its parameter: the same key as the Python side takes and releases."""
    return f"pg_try_advisory_lock(%s::bigint << {LOCK_SHIFT} | {column})"


@contextlib.contextmanager
def advisory_lock(namespace: int, key: int, *, wait_ms: int = 0) -> Iterator[bool]:
    """A session-level advisory lock, waiting up to `wait_ms` for it; yields whether it is
    held. Postgres releases it if the worker dies, so a crashed holder never blocks the job or
    wallet for good."""
    lock = lock_key(namespace, key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock])
        held = cursor.fetchone()[0]
        if not held and wait_ms:  # busy: wait for it (the free case costs one statement)
            held = _advisory_lock_wait(cursor, lock, wait_ms)
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock])


@contextlib.contextmanager
def advisory_locks(namespace: int, keys: Iterable[int]) -> Iterator[set[int]]:
    """`advisory_lock` (without waiting) for many keys in one statement; yields the keys
    held, released together at the end."""
    by_lock = {lock_key(namespace, key): key for key in sorted(set(keys))}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT k FROM unnest(%s::bigint[]) AS k WHERE pg_try_advisory_lock(k)",
            [list(by_lock)],
        )
        locked = [lock for (lock,) in cursor.fetchall()]
    try:
        yield {by_lock[lock] for lock in locked}
    finally:
        advisory_unlock(namespace, [by_lock[lock] for lock in locked])


def advisory_unlock(namespace: int, keys: list[int]) -> None:
    if keys:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(k) FROM unnest(%s::bigint[]) AS k",
                [[lock_key(namespace, key) for key in keys]],
            )


def _advisory_lock_wait(cursor, lock: int, wait_ms: int) -> bool:
    """Wait for the lock on the server (no CPU, no re-queued message) up to `wait_ms`."""
    try:
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, false), pg_advisory_lock(%s)",
            [f"{wait_ms}ms", lock],
        )
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        return False
    finally:
        cursor.execute("RESET lock_timeout")  # back to the session's default
    return True
