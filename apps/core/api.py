"""The API's shared shapes: the one error shape, `{"error": {"code", "message", "fields"}}` for
every 4xx, and the cursor page of every list, `{"results": [...], "next_cursor": ...}`."""

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, JsonResponse
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import DomainError
from apps.core.outage import ServiceUnavailable, is_outage, retry_after
from apps.core.pagination import PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, keyset_page


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def flatten_errors(detail) -> dict[str, list[str]]:
    """DRF nests errors (lists, dicts of lists); clients want `field -> [messages]`."""
    fields: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
            for index, item in enumerate(value):
                walk(f"{prefix}.{index}" if prefix else str(index), item)
        else:
            items = value if isinstance(value, list) else [value]
            fields.setdefault(prefix or "non_field_errors", []).extend(str(i) for i in items)

    walk("", detail)
    return fields


def _validation_message(fields: dict[str, list[str]]) -> str:
    if list(fields) == ["non_field_errors"]:
        return " ".join(fields["non_field_errors"])
    names = sorted(name for name in fields if name != "non_field_errors")
    return "Some fields are invalid: " + ", ".join(names) + "."


def exception_handler(exc, context):
    if is_outage(exc) and not isinstance(exc, ServiceUnavailable):
        exc = ServiceUnavailable()
    if isinstance(exc, DomainError):
        response = Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
        if isinstance(exc, ServiceUnavailable):
            response.headers["Retry-After"] = retry_after()
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: a 500, reported to Sentry
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        response.data = error_body("validation_error", _validation_message(fields), fields)
        return response
    detail = exc.detail
    if isinstance(detail, dict):  # simplejwt nests its own message and code
        message, code = str(detail.get("detail", "")), str(detail.get("code", exc.default_code))
    else:
        message, code = str(detail), getattr(detail, "code", None) or exc.default_code
    response.data = error_body(code, message)
    return response


class PageQuerySerializer(serializers.Serializer):
    """The query parameters of every list endpoint."""

    cursor = serializers.CharField(
        required=False, max_length=1000, help_text="`next_cursor` of the previous page."
    )
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=PAGE_SIZE_MAX, default=PAGE_SIZE_DEFAULT,
        help_text=f"Rows per page (default {PAGE_SIZE_DEFAULT}, at most {PAGE_SIZE_MAX}).",
    )  # fmt: skip


_page_serializers: dict[type, type[serializers.Serializer]] = {}


def page_serializer(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The page shape of a list of `item`: `{"results": [...], "next_cursor": str | null}`,
    one named serializer per item type (the OpenAPI schema names it `<Item>Page`)."""
    if item not in _page_serializers:
        name = item.__name__.removesuffix("Serializer") + "PageSerializer"
        _page_serializers[item] = type(
            name,
            (serializers.Serializer,),
            {
                "results": item(many=True, read_only=True),
                "next_cursor": serializers.CharField(
                    allow_null=True,
                    help_text="Pass as `cursor` for the next page; null on the last page.",
                ),
                "__doc__": f"One page of {item.__name__.removesuffix('Serializer')} rows.",
            },
        )
    return _page_serializers[item]


def paginated(
    request, rows: QuerySet, item: type[serializers.Serializer], *, query: dict | None = None
) -> Response:
    """A list endpoint's answer: the page of `rows` (ordered by their selector) that the
    request's `cursor` and `limit` ask for (`query`: those already validated with the view's own
    filters, a PageQuerySerializer subclass), in `item`'s page shape."""
    if query is None:
        parsed = PageQuerySerializer(data=request.query_params)
        parsed.is_valid(raise_exception=True)
        query = parsed.validated_data
    page = keyset_page(rows, cursor=query.get("cursor"), limit=query["limit"])
    return Response(
        page_serializer(item)({"results": page.rows, "next_cursor": page.next_cursor}).data
    )


def json_not_found(request, exception=None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}


def document_error_responses(result, generator, request, public):
    """drf-spectacular post-processing hook: the errors any operation can answer, in the one
    error shape. 401 everywhere, 400 when it takes a body or query, 404 when its path names
    an object (missing, another user's, or not a number); and every documented
    4xx/5xx gets the `Error` schema, so the API fuzz test checks error bodies too."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            # Even the sign-in endpoints answer 401 (wrong password, a bad refresh token).
            implied = [("401", "Missing, invalid or expired credentials.")]
            if "requestBody" in operation or any(p["in"] == "query" for p in parameters):
                implied.append(("400", "Invalid input: `fields` names each bad field."))
            if any(p["in"] == "path" for p in parameters):
                implied.append(("404", "No such object (or not yours)."))
            for status, description in implied:
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if status[0] in "45" and not response.get("content"):
                    response["content"] = {"application/json": {"schema": ERROR_REF}}
    return result
