"""CSV exports: one writer for every export, which neutralises spreadsheet formulas.

A spreadsheet opening a CSV runs a cell that starts with `=`, `+`, `-` or `@` as a formula (and
tab or carriage return can smuggle one past a naive check), so any text a user controls (an
e-mail such as `=2+5+cmd|'/Ccalc'!A0@example.com` is a valid address) could run on an operator's
machine. Such a cell gets a leading `'`, which spreadsheets show as text (OWASP's advice).
Plain numbers (`-5`, `+1.5`) are left alone: they are no formula, and the exports carry signed
lamport amounts.
"""

import csv
import re
from collections.abc import Iterable, Iterator

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def csv_cell(value) -> object:
    """The value as it may go into a CSV cell: text that a spreadsheet would run is quoted."""
    is_formula = isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)
    if is_formula and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """The CSV text of `header` and `rows`, one line at a time (for a StreamingHttpResponse)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])
