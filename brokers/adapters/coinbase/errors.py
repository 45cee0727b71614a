"""ccxt's Coinbase exceptions into ours.

ccxt maps Advanced Trade errors only partly: its exact map is lower-case (v2's `rate_limit_exceeded`)
while v3 answers upper-case codes (`RATE_LIMIT_EXCEEDED`, `NOT_FOUND`, `INTERNAL`) inside a JSON
body, and a create's `error_response` is matched on `preview_failure_reason` alone; everything else
arrives as a bare `ExchangeError("coinbase {body}")` with the HTTP status lost. The last rule reads
Coinbase's own code from that body.
"""

from __future__ import annotations

import json
from typing import Any

import ccxt

from brokers.adapters.base import (
    AuthenticationFailed,
    BrokerError,
    BrokerUnavailable,
    InsufficientFunds,
    InvalidSymbol,
    OrderNotFound,
    OrderRejected,
    RateLimited,
)
from brokers.adapters.translate import Translator, vendor_message

RETRY_AFTER = 1.0  # Coinbase's limits are per second and it sends no Retry-After
AUTH_FAILED = (
    "Coinbase refused the API key: check the key name (organizations/…/apiKeys/…), that the private "
    "key is the one created with it, that the key is active with view and trade permissions, and "
    "that this server's clock is right (each request is signed for two minutes)."
)
UNAVAILABLE_CODES = frozenset({"INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "UNKNOWN", "internal_server_error"})
RATE_CODES = frozenset({"RATE_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED", "rate_limit_exceeded", "resource_exhausted"})
AUTH_CODES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED", "unauthorized", "authentication_error"})


def _body(exc: BaseException) -> dict[str, Any]:
    """The JSON body ccxt put in its message ("coinbase {...}"), or {}."""
    text = str(exc)
    start = text.find("{")
    try:
        body = json.loads(text[start:]) if start >= 0 else {}
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _rejection(error: dict[str, Any]) -> BrokerError:
    """A create's `error_response` (HTTP 200, `success: false`)."""
    codes = {str(error.get(k, "")) for k in ("error", "new_order_failure_reason", "preview_failure_reason")}
    detail = error.get("message") or error.get("error_details") or error.get("error") or "rejected"
    message = f"Coinbase rejected the order: {detail}"
    if codes & {"INSUFFICIENT_FUND", "INSUFFICIENT_FUNDS", "PREVIEW_INSUFFICIENT_FUND"}:
        return InsufficientFunds(message)
    if codes & {"INVALID_PRODUCT_ID", "PREVIEW_INVALID_PRODUCT_ID"}:
        return InvalidSymbol(message)
    return OrderRejected(message)


def from_coinbase_body(exc: BaseException) -> BrokerError | None:
    body = _body(exc)
    if isinstance(body.get("error_response"), dict):
        return _rejection(body["error_response"])
    errors = body.get("errors")
    code = str(body.get("error") or (errors[0].get("id") if isinstance(errors, list) and errors else "") or "")
    message = str(body.get("message") or body.get("error_details") or code)
    if code in RATE_CODES:
        return RateLimited(f"Coinbase rate limit: {message}", retry_after=RETRY_AFTER)
    if code in UNAVAILABLE_CODES:
        return BrokerUnavailable(f"Coinbase is unavailable: {message}")
    if code in AUTH_CODES:
        return AuthenticationFailed(AUTH_FAILED)
    if code == "NOT_FOUND" and "order" in message.lower():
        return OrderNotFound(f"Coinbase: {message}")
    if code == "NOT_FOUND" and "product" in message.lower():
        return InvalidSymbol(f"Coinbase: {message}")
    if code in ("INVALID_ARGUMENT", "UNSUPPORTED_ORDER_CONFIGURATION"):
        return OrderRejected(f"Coinbase rejected the request: {message}")
    return None


TRANSLATOR = Translator(
    "Coinbase",
    rules=(
        (ccxt.BadSymbol, InvalidSymbol),
        (ccxt.OrderNotFound, OrderNotFound),
        (ccxt.InsufficientFunds, lambda exc: from_coinbase_body(exc) or InsufficientFunds(vendor_message(exc))),
        (ccxt.AuthenticationError, lambda exc: AuthenticationFailed(AUTH_FAILED)),
        (
            (ccxt.DDoSProtection, ccxt.RateLimitExceeded),
            lambda exc: RateLimited(vendor_message(exc), retry_after=RETRY_AFTER),
        ),
        (ccxt.NetworkError, BrokerUnavailable),  # RequestTimeout, ExchangeNotAvailable, a dropped answer
        (ccxt.InvalidOrder, lambda exc: from_coinbase_body(exc) or OrderRejected(vendor_message(exc))),
        (ccxt.ExchangeError, from_coinbase_body),
        (ccxt.BadRequest, OrderRejected),
    ),
)
