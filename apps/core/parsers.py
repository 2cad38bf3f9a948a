"""The API's JSON parser, with a size and a nesting limit checked before the body is parsed.

Python's json module recurses once per nesting level, and so do DRF's serializers and anything
that walks the data afterwards: a small body of a thousand nested arrays raised RecursionError
(a 500) before any view code ran. The body is read up to API_MAX_BODY_BYTES (+1 byte to tell
"at the limit" from "over it") and its nesting counted with a scan that never recurses; once
parsed, every string must be text that can be encoded (no lone surrogates).
"""

import io
import re

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

# A JSON string (escapes included) or one bracket. Scanning left to right, a `"` outside a
# string always opens one, so brackets inside strings are skipped and never counted.
_STRUCTURE = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in `body` (0 for a scalar)."""
    depth = deepest = 0
    for match in _STRUCTURE.finditer(body):
        char = match.group()
        if char in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


def check_json_body(body: bytes) -> None:
    """Refuse a body over the size or nesting limit (413 / 400), before anything parses it."""
    limit = settings.API_MAX_BODY_BYTES
    if len(body) > limit:
        raise RequestTooLarge(f"The request body is over the limit of {limit} bytes.")
    max_depth = settings.API_MAX_JSON_DEPTH
    if json_depth(body) > max_depth:
        raise ParseError(f"The JSON body is nested deeper than {max_depth} levels.")


class LimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        limit = settings.API_MAX_BODY_BYTES
        # A declared length over the limit is refused without reading the body at all.
        if declared and declared.isdigit() and int(declared) > limit:
            raise RequestTooLarge(f"The request body is over the limit of {limit} bytes.")
        body = stream.read(limit + 1)
        check_json_body(body)
        data = super().parse(io.BytesIO(body), media_type, parser_context)
        check_json_text(data)
        return data


def check_json_text(data) -> None:
    """Refuse a string that is not Unicode text: JSON lets `"\\ud800"` (half of a surrogate
    pair) through, and the first thing that encodes it (the database, a log line) raised
    UnicodeEncodeError, a 500. Walked with a stack: the depth is already bounded."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                raise ParseError(
                    "The JSON body has a string that is not valid Unicode (a lone surrogate)."
                ) from None
