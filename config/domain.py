"""The errors services raise: what went wrong in the product's terms, never an HTTP status.

Services are called by views, tasks and bots alike, so they say *what* failed; the API edge
(`config.errors.api_exception_handler`) alone decides the status code. `code` is the contract's
error code (`already_configured`, `premium_required`, ...); `fields` names the input at fault.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "error"

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = code or self.code
        self.fields = fields or {}


class InvalidInput(DomainError):
    """The request cannot be carried out as given; `fields` says which input and why."""

    code = "invalid"

    @classmethod
    def field(cls, name: str, message: str, *, summary: str | None = None) -> InvalidInput:
        return cls(summary or message, fields={name: [message]})


class NotFound(DomainError):
    """No such object for this user (another user's objects are not found either)."""

    code = "not_found"


class Conflict(DomainError):
    """The object's state forbids it: already configured, a reused client order id, not open, kill switch."""

    code = "conflict"


class Forbidden(DomainError):
    """The user may not do this: premium tier, broker not allowed."""

    code = "permission_denied"


class Unavailable(DomainError):
    """Turned off or cannot be done safely right now (a feature flag, the vault)."""

    code = "unavailable"
