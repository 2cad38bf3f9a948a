"""Log context: ids (user, campaign, run, job) bound for the duration of a request or task, and
added to every JSON log line by `ContextFilter`."""

import contextlib
import contextvars
import logging
import re
from collections.abc import Iterator

from pythonjsonlogger.json import JsonFormatter

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


# A credential in a URL's query (`?token=<JWT>`, `&ticket=…`): uvicorn logs every WebSocket
# handshake with its query string, and a request's repr carries it too.
_SECRET_QUERY = re.compile(r"(?i)([?&](?:token|ticket|access|refresh)=)[^&\s\"'\\]+")


def redact_secrets(text: str) -> str:
    return _SECRET_QUERY.sub(r"\1[redacted]", text)


class RedactingJsonFormatter(JsonFormatter):
    """The JSON log formatter, with credential query values redacted from the whole line (the
    message, its arguments and every extra field), whichever logger wrote it."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_secrets(super().format(record))
