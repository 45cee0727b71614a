"""alpaca-py's exceptions into our `BrokerError`s: the adapter's one `Translator`.

alpaca-py raises one `APIError` for every HTTP error, carrying Alpaca's JSON body
(`{"code": 40310000, "message": "insufficient buying power", ...}`) as its text and the
`requests` error (status, headers). Alpaca's codes are coarse, so the message refines them:

- 40110000, any 401, or a 403 without a code (`{"message": "forbidden."}`, e.g. a live key on the
  paper host) → AuthenticationFailed;
- 40310000 → InsufficientFunds ("insufficient buying power", "insufficient qty available");
  Alpaca uses the same code for "new orders are rejected by user request" → OrderRejected;
- 40410000 → InvalidSymbol ("asset not found for X"), or OrderNotFound when it names an order;
  an order for an unknown symbol may also come back 422/40010001 `asset "X" not found`;
- 429 / 42910000 → RateLimited, retry-after from `Retry-After` or `X-RateLimit-Reset`;
- 5xx → BrokerUnavailable; any other 4xx → OrderRejected with Alpaca's words.

A 422 "client_order_id must be unique" is not translated here: `place_order` answers it by
finding the order already placed under that id.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping

import requests
from alpaca.common.exceptions import APIError

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

AUTH_HINT = (
    "Alpaca refused the API key: check the key ID and secret key, and that paper keys are used "
    "with a paper connection (live keys with a live one)"
)
DEFAULT_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 60.0
_DUPLICATE = re.compile(r"client[ _]?order[ _]?id must be unique", re.IGNORECASE)
_ASSET_MISSING = re.compile(r"asset .*not found|could not find asset", re.IGNORECASE)


def body(exc: APIError) -> tuple[int | None, str]:
    """(code, message) from Alpaca's error body; (None, the raw text) when it is not JSON."""
    text = str(exc)
    try:
        parsed = json.loads(text)
    except ValueError:
        return None, " ".join(text.split())[:200] or "no message"
    if not isinstance(parsed, dict):
        return None, text[:200]
    code = parsed.get("code")
    return (int(code) if str(code).isdigit() else None), str(parsed.get("message") or text)[:300]


def is_duplicate_client_id(exc: BaseException) -> bool:
    return isinstance(exc, APIError) and exc.status_code == 422 and bool(_DUPLICATE.search(body(exc)[1]))


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float:
    """Seconds until Alpaca admits calls again: `Retry-After`, else `X-RateLimit-Reset` (epoch s)."""
    for name, base in (("Retry-After", 0.0), ("X-RateLimit-Reset", time.time() if now is None else now)):
        try:
            seconds = float(headers[name]) - base
        except (KeyError, ValueError):
            continue
        return min(max(seconds, DEFAULT_RETRY_AFTER / 2), MAX_RETRY_AFTER)
    return DEFAULT_RETRY_AFTER


def _not_found(message: str) -> BrokerError:
    text = f"Alpaca: {message}"
    return OrderNotFound(text) if "order" in message.lower() else InvalidSymbol(text)


def api_error(exc: BaseException) -> BrokerError | None:
    if not isinstance(exc, APIError):
        return None
    status, (code, message) = exc.status_code, body(exc)
    text = f"Alpaca: {message}"
    if status == 401 or code == 40110000 or (status == 403 and code is None):
        return AuthenticationFailed(f"{AUTH_HINT} ({message}).")
    if status == 429 or code == 42910000:
        headers = exc.response.headers if exc.response is not None else {}
        return RateLimited(text, retry_after=retry_after(headers))
    if code == 40310000:
        return InsufficientFunds(text) if "insufficient" in message.lower() else OrderRejected(text)
    if code == 40410000 or status == 404 or _ASSET_MISSING.search(message):
        return _not_found(message)
    if status is not None and status >= 500:
        return BrokerUnavailable(f"Alpaca answered {status}: {message}")
    return OrderRejected(text)


def unreachable(exc: BaseException) -> BrokerError:
    return BrokerUnavailable(f"Alpaca did not answer: {vendor_message(exc)}")


TRANSLATOR = Translator(
    "Alpaca",
    rules=(
        (APIError, api_error),
        ((requests.ConnectionError, requests.Timeout), unreachable),
    ),
)
