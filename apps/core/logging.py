"""Log context: ids (user, campaign, run, job) bound for the duration of a request or task, and
added to every JSON log line by `ContextFilter`."""

import contextlib
import contextvars
import logging
from collections.abc import Iterator

_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("log_context", default=None)


@contextlib.contextmanager
def bound(**fields: object) -> Iterator[None]:
    """Add `fields` to every log line written inside the block (nests; inner values win)."""
    current = _context.get() or {}
    token = _context.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in (_context.get() or {}).items():
            setattr(record, name, value)
        return True
