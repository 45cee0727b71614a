"""Schwab's failures in our terms.

schwab-py returns every HTTP answer as a response, errors included, so each call's status is
checked here (`check`); exceptions (timeouts, dropped connections, refused tokens) are translated
by `TRANSLATOR` at the adapter's edge. Schwab's error bodies: the Trader API's
`{"message", "errors": [...]}`, the Market Data API's `{"errors": [{"title", "detail", ...}]}`,
the token endpoint's `{"error", "error_description"}`.
"""

from __future__ import annotations

import json
import re

import httpx
from authlib.integrations.base_client.errors import OAuthError
from django.db import DatabaseError

from brokers.adapters.base import (
    AuthenticationFailed,
    BrokerError,
    BrokerUnavailable,
    InsufficientFunds,
    InvalidSymbol,
    OrderRejected,
    RateLimited,
)
from brokers.adapters.translate import MAX_MESSAGE, Translator

REAUTHORISE = "Authorise Tradewire at Schwab again from the brokers page."
NOT_AUTHORISED = f"This Schwab connection has not been authorised yet. {REAUTHORISE}"
DEFAULT_RETRY_AFTER = 5.0
_FUNDS = re.compile(r"insufficient|buying power|not enough (cash|funds)", re.IGNORECASE)
_SYMBOL = re.compile(r"symbol", re.IGNORECASE)


def _refused(exc: BaseException) -> BrokerError:
    # The token endpoint refused the refresh token (spent, expired after 7 days) or the app's keys.
    return AuthenticationFailed(
        f"Schwab refused the authorisation ({getattr(exc, 'error', 'oauth_error')}). {REAUTHORISE}"
    )


TRANSLATOR = Translator(
    "Schwab",
    rules=(
        (httpx.TimeoutException, lambda exc: BrokerUnavailable("Schwab did not answer in time.")),
        (httpx.TransportError, lambda exc: BrokerUnavailable("Could not reach Schwab (connection failed or dropped).")),
        (OAuthError, _refused),
        # Authlib raises these for a token-endpoint answer that is not a JSON object.
        (httpx.HTTPStatusError, lambda exc: error_for(exc.response)),
        (json.JSONDecodeError, lambda exc: BrokerUnavailable("Schwab answered with something that is not JSON.")),
        # Saving a refreshed token (under the connection's row lock) failed: try again later.
        (DatabaseError, lambda exc: BrokerUnavailable("Could not save the refreshed Schwab token; try again.")),
    ),
)


def message(response: httpx.Response) -> str:
    """Schwab's own words for a failed call, whichever of its error shapes it used."""
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        body = None
    parts: list[str] = []
    if isinstance(body, dict):
        parts += [str(body[key]) for key in ("message", "error_description") if body.get(key)]
        for item in body.get("errors") or []:
            text = item if isinstance(item, str) else " ".join(str(item.get(k, "")) for k in ("title", "detail"))
            parts.append(text.strip())
    text = " ".join(" ".join(p for p in parts if p).split())
    return (text or f"HTTP {response.status_code}")[:MAX_MESSAGE]


def check(response: httpx.Response, *, order: bool = False, not_found: type[BrokerError] = BrokerError) -> None:
    """Raise our error for a failed Schwab answer; `order` marks calls whose 400 rejects an order."""
    error = error_for(response, order=order, not_found=not_found)
    if error is not None:
        raise error


def error_for(
    response: httpx.Response, *, order: bool = False, not_found: type[BrokerError] = BrokerError
) -> BrokerError | None:
    """Our error for a Schwab answer, or None when it succeeded."""
    status = response.status_code
    if status < 400:
        return None
    said = message(response)
    if status == 401:
        return AuthenticationFailed(f"Schwab refused the access token (HTTP 401: {said}). {REAUTHORISE}")
    if status == 403:
        return AuthenticationFailed(f"Schwab forbids this call for the app or account (HTTP 403: {said}).")
    if status == 404:
        return not_found(f"Schwab: {said}")
    if status == 429:
        retry = response.headers.get("Retry-After", "")
        return RateLimited(f"Schwab is throttling requests: {said}", retry_after=_seconds(retry))
    if status >= 500:
        return BrokerUnavailable(f"Schwab failed (HTTP {status}): {said}")
    return _client_error(said, order=order)


def _client_error(said: str, *, order: bool) -> BrokerError:
    if _FUNDS.search(said):
        return InsufficientFunds(f"Schwab: {said}")
    if order and _SYMBOL.search(said):
        return InvalidSymbol(f"Schwab: {said}")
    return OrderRejected(f"Schwab rejected the order: {said}") if order else BrokerError(f"Schwab: {said}")


def _seconds(header: str) -> float:
    try:
        return max(float(header), 0.0)
    except ValueError:
        return DEFAULT_RETRY_AFTER
