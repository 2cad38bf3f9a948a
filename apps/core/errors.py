"""Domain errors: raised by services, turned into clear messages by the web and API layers."""


class DomainError(Exception):
    """A rule of the domain refused the operation; the message is safe to show the user."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class ValidationFailed(DomainError):
    code = "validation_error"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Forbidden(DomainError):
    """The actor may not do this from here (e.g. outside an IP allow list)."""

    status_code = 403
    code = "forbidden"


class Conflict(DomainError):
    """The object is not in a state that allows the operation (e.g. a forbidden transition)."""

    status_code = 409
    code = "conflict"
