"""Keyset (cursor) pagination for every API list: a page is the rows after the last row of the
previous page in a fixed, total order, so pages stay stable while rows are added or removed and
page 1000 costs what page 1 costs (no OFFSET). The cursor is opaque to clients: the ordering
fields' values of the page's last row, JSON in URL-safe base64. The admin's changelists, which
page by number, get `NoCountPaginator` for the tables that grow without bound."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Generic, TypeVar

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Model, Q, QuerySet

from apps.core.errors import ValidationFailed

PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 200

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Page(Generic[M]):
    rows: list[M]
    next_cursor: str | None


def _bad_cursor() -> ValidationFailed:
    message = "This cursor is not valid: start again from the first page."
    return ValidationFailed(message, fields={"cursor": [message]})


def _json_value(value: object) -> object:
    # Full microseconds: DjangoJSONEncoder keeps milliseconds only, and a rounded timestamp
    # would repeat or skip rows created within the same millisecond.
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be a cursor value")


def _encode(values: list) -> str:
    raw = json.dumps(values, default=_json_value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, *, model: type[Model], names: list[str]) -> list:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError) as error:
        raise _bad_cursor() from error
    if not isinstance(values, list) or len(values) != len(names):
        raise _bad_cursor()
    decoded = []
    for name, value in zip(names, values, strict=True):
        field = model._meta.get_field(name)
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise _bad_cursor()
        try:
            python = field.to_python(value)
        except (ValidationError, TypeError, ValueError) as error:
            raise _bad_cursor() from error
        # A naive datetime would compare in the server's zone: refuse it like any forgery.
        if python is None or getattr(python, "tzinfo", True) is None:
            raise _bad_cursor()
        decoded.append(python)
    return decoded


def keyset_page(rows: QuerySet[M], *, cursor: str | None, limit: int) -> Page[M]:
    """One page of `rows` in their `order_by` (plain field names, `-` for descending; the last
    one must be `id` or `-id`, so the order is total and rows of equal values never swap
    between pages): at most `limit` rows after `cursor` (None: the first page), and the cursor
    of the next page (None on the last page). The selector that builds `rows` owns the order."""
    order = tuple(rows.query.order_by)
    if not order or order[-1].lstrip("-") != "id":
        raise ValueError(f"keyset pagination needs an order ending in the id, not {order!r}")
    names = [name.lstrip("-") for name in order]
    if cursor:
        values = _decode(cursor, model=rows.model, names=names)
        # (a, b, c) after (x, y, z): a past x, or a = x and b past y, or a = x, b = y, c past z.
        after = Q()
        for index, name in enumerate(order):
            past = "lt" if name.startswith("-") else "gt"
            clause = Q(**{f"{names[index]}__{past}": values[index]})
            for earlier in range(index):
                clause &= Q(**{names[earlier]: values[earlier]})
            after |= clause
        rows = rows.filter(after)
    page = list(rows[: limit + 1])
    if len(page) <= limit:
        return Page(rows=page, next_cursor=None)
    page = page[:limit]
    return Page(rows=page, next_cursor=_encode([getattr(page[-1], n) for n in names]))


class NoCountPaginator(Paginator):
    """For admin changelists of tables that grow without bound (executions, jobs, the ledger):
    Django's paginator counts every matching row on every page view. This one counts only up
    to one row past the page asked for (`page`), so a page costs what its OFFSET costs and no
    more; the admin then links the pages up to the next one. Pages past `max_pages` do not
    exist (the admin says the page is invalid): filters narrow a search, deep OFFSETs do not."""

    max_pages = 100

    def __init__(self, object_list, per_page, *, page: int = 1, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.asked = max(1, min(page, self.max_pages))

    @cached_property
    def count(self) -> int:
        bound = min(self.asked * self.per_page + 1, self.max_pages * self.per_page)
        return self.object_list[:bound].count()
