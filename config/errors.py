"""The one error body of the API: {"error": {"code", "message", "fields"}}.

Every API failure, DRF's own and ours, leaves through `api_exception_handler`, so a client
parses one shape. Codes are CONTRACT.md's. This is also the one place where the services'
domain errors (`config.domain`) and the brokers' errors (`BrokerError`) get their status codes.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from brokers.adapters.base import (
    AuthenticationFailed,
    BrokerError,
    BrokerUnavailable,
    InvalidSymbol,
    RateLimited,
)
from config.domain import Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unavailable

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An API failure raised by a view itself, e.g. ApiError(400, "bad_request", "...").

    Services raise domain errors (config.domain) instead; they are mapped below.
    """

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [f"{key}: {msg}" for key, value in detail.items() for msg in _flatten(value)]
    if isinstance(detail, list):
        return [msg for item in detail for msg in _flatten(item)]
    return [str(detail)]


def _fields(detail: Any) -> dict[str, list[str]]:
    if not isinstance(detail, dict):
        return {}
    return {key: _flatten(value) for key, value in detail.items() if key != "non_field_errors"}


def _validation_response(exc: exceptions.ValidationError) -> Response:
    fields = _fields(exc.detail)
    general = exc.detail.get("non_field_errors") if isinstance(exc.detail, dict) else exc.detail
    if general:
        message = "; ".join(_flatten(general))
    else:
        message = "Invalid input: " + ", ".join(sorted(fields)) + "." if fields else "Invalid input."
    return Response(error_body("invalid", message, fields), status=400)


_CODES: list[tuple[type[Exception], int, str]] = [
    (exceptions.NotAuthenticated, 401, "not_authenticated"),
    (exceptions.AuthenticationFailed, 401, "not_authenticated"),
    (exceptions.NotFound, 404, "not_found"),
    (exceptions.ParseError, 400, "bad_request"),
    (exceptions.MethodNotAllowed, 405, "method_not_allowed"),
    (exceptions.UnsupportedMediaType, 415, "unsupported_media_type"),
    (exceptions.NotAcceptable, 406, "not_acceptable"),
    (exceptions.Throttled, 429, "rate_limited"),
]


_DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (InvalidInput, 400),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Unavailable, 503),
]


def domain_error(exc: DomainError) -> ApiError:
    status_code = next((code for kind, code in _DOMAIN_STATUS if isinstance(exc, kind)), 400)
    return ApiError(status_code, exc.error_code, exc.message, fields=exc.fields)


def broker_error(exc: BrokerError) -> ApiError:
    """A broker failure as the contract's 429 / 502 (or 400 for a symbol the broker does not list)."""
    if isinstance(exc, RateLimited):
        retry = max(1, round(exc.retry_after or 1))
        return ApiError(429, "rate_limited", exc.message, headers={"Retry-After": str(retry)})
    if isinstance(exc, InvalidSymbol):
        return ApiError(400, "invalid", exc.message, fields={"symbol": [exc.message]})
    if isinstance(exc, AuthenticationFailed):
        return ApiError(502, "broker_auth_failed", exc.message)
    if isinstance(exc, BrokerUnavailable):
        return ApiError(502, "broker_unavailable", exc.message)
    return ApiError(502, "broker_error", exc.message)


def _permission_code(exc: exceptions.PermissionDenied) -> str:
    if str(exc.detail).startswith("CSRF Failed"):
        return "csrf_failed"
    code = exc.get_codes()
    return code if isinstance(code, str) and code != "permission_denied" else "permission_denied"


def _ours(exc: Exception) -> Exception:
    """A domain or broker error as the ApiError it answers as; anything else unchanged."""
    if isinstance(exc, DomainError):
        return domain_error(exc)
    if isinstance(exc, BrokerError):
        return broker_error(exc)
    return exc


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    exc = _ours(exc)
    if isinstance(exc, ApiError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code, headers=exc.headers)
    if isinstance(exc, exceptions.ValidationError):
        return _validation_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.PermissionDenied):
        return Response(error_body(_permission_code(exc), str(exc.detail)), status=403)
    for kind, status_code, code in _CODES:
        if isinstance(exc, kind):
            headers = {}
            if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
                headers["Retry-After"] = str(max(1, round(exc.wait)))
            if status_code == 401:
                headers["WWW-Authenticate"] = "Token"
            return Response(error_body(code, str(exc.detail)), status=status_code, headers=headers)
    if isinstance(exc, exceptions.APIException):
        return Response(error_body(str(exc.get_codes()), str(exc.detail)), status=exc.status_code)
    logger.exception("Unhandled API error in %s", context.get("view").__class__.__name__)
    return Response(
        error_body("server_error", "Something went wrong on our side; it has been logged."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def api_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """404 for unknown API paths, in the API's error body."""
    return JsonResponse(error_body("not_found", "No such endpoint."), status=404)
