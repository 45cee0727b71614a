"""The ccxt `kraken` an adapter talks through, and the translation of ccxt's errors into ours.

- Endpoint: ccxt builds every URL from `urls['api']['public']` / `['private']` + `/0/<api>/<Method>`,
  so `KRAKEN_API_URL` goes there (unset: Kraken's own). ccxt's limiter is off (ours is in Redis).
- Nonces: ccxt's `nonce` hook is a `SharedNonce` (auth.py), one counter per key for every process.
- Markets: AssetPairs (and Assets) are loaded once per process and endpoint, shared by every
  client through ccxt's `set_markets_from_exchange`, and refreshed hourly.
- Time: one adapter call may make several requests; each gets what is left of the call's budget
  as its timeout, so the whole call ends within `timeout_seconds`.
- Rate limits: Kraken counts requests, not our calls, so each request is charged to the shared
  limiter as it is signed (`request_cost`): https://docs.kraken.com/api/docs/guides/spot-rest-ratelimits
  (a private call adds 1 to the key's counter, trade history and ledgers 2; AddOrder and CancelOrder
  count on the matching engine's trading counter instead) and public calls about one per second.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any, Final

import ccxt
from django.conf import settings

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
from brokers.adapters.capabilities import CallKind, Meter
from brokers.adapters.kraken.auth import SharedNonce
from brokers.adapters.translate import Translator

MARKETS_TTL: Final = 3600.0
# Kraken sends no Retry-After: the Starter counter sheds one call every ~3 s (0.33/s).
RETRY_AFTER: Final = 3.0

_markets: dict[str, tuple[float, ccxt.kraken]] = {}
_markets_lock = threading.Lock()


def timeout_seconds() -> float:
    """The registry's budget for one call, tightened by BROKER_TIMEOUT_SECONDS when that is lower."""
    from brokers.adapters.registry import get_spec

    return min(get_spec("kraken").capabilities.timeout_seconds, settings.BROKER_TIMEOUT_SECONDS)


TRADING_CALLS: Final[dict[str, CallKind]] = {
    "AddOrder": "orders",
    "AddOrderBatch": "orders",
    "AmendOrder": "orders",
    "EditOrder": "orders",
    "CancelOrder": "cancels",
    "CancelOrderBatch": "cancels",
}
DOUBLE_COST_CALLS: Final = frozenset({"TradesHistory", "Ledgers"})


def request_cost(api: str | list[str], path: str) -> tuple[CallKind, int]:
    """The kind of limit one request counts against, and how much it adds there."""
    if "private" not in (api if isinstance(api, list) else [api]):
        return "market_data", 1
    if path in TRADING_CALLS:
        return TRADING_CALLS[path], 1
    return "queries", 2 if path in DOUBLE_COST_CALLS else 1


class MeteredKraken(ccxt.kraken):  # type: ignore[misc]
    """ccxt's `kraken`, charging each request to `meter` (when set) just before it is signed and sent."""

    meter: Meter | None = None

    def sign(self, path: str, api: Any = "public", method: str = "GET", params: Any = None, *rest: Any) -> Any:
        if self.meter is not None:
            self.meter(*request_cost(api, path))
        return super().sign(path, api, method, {} if params is None else params, *rest)


def build_exchange(*, timeout: float, api_key: str = "", secret: str = "") -> ccxt.kraken:
    config: dict[str, Any] = {"enableRateLimit": False, "timeout": int(timeout * 1000)}
    url = settings.KRAKEN_API_URL.rstrip("/")
    if url:
        config["urls"] = {"api": {"public": url, "private": url}}
    if api_key:
        config.update(apiKey=api_key, secret=secret, nonce=SharedNonce(api_key))
    return MeteredKraken(config)


def shared_markets(timeout: float) -> ccxt.kraken:
    """A public client whose markets are loaded: Kraken's pairs, fetched once an hour per process."""
    url = settings.KRAKEN_API_URL
    with _markets_lock:
        cached = _markets.get(url)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        source = build_exchange(timeout=timeout)
        source.load_markets()
        _markets[url] = (time.monotonic() + MARKETS_TTL, source)
        return source


def forget_markets() -> None:
    """Drop the cached markets (tests that start a new simulator on a reused URL)."""
    with _markets_lock:
        _markets.clear()


class KrakenClient:
    """One ccxt `kraken` with a per-call deadline: `begin()` at the start of each adapter call."""

    def __init__(self, *, timeout: float, api_key: str = "", secret: str = "") -> None:
        self.timeout = timeout
        self.exchange = build_exchange(timeout=timeout, api_key=api_key, secret=secret)
        self._deadline = time.monotonic() + timeout
        self._source: ccxt.kraken | None = None

    def begin(self) -> None:
        self._deadline = time.monotonic() + self.timeout

    def markets(self) -> dict[str, Any]:
        """The shared markets, followed when they are refreshed (a pooled client lives for hours)."""
        source = shared_markets(self._remaining())
        if source is not self._source:
            self.exchange.set_markets_from_exchange(source)
            self._source = source
        markets: dict[str, Any] = self.exchange.markets
        return markets

    def call(self, method: str, *args: Any) -> Any:
        """`exchange.<method>(*args)`; a refused nonce (a later nonce arrived first) is retried once.

        Kraken checks the nonce before it acts on a call, so sending again is safe, AddOrder included.
        """
        self.markets()
        try:
            return self._send(method, args)
        except ccxt.InvalidNonce:
            try:
                return self._send(method, args)
            except ccxt.InvalidNonce as exc:
                raise BrokerUnavailable("Kraken refused the request nonce twice; try again.") from exc

    def _send(self, method: str, args: tuple[Any, ...]) -> Any:
        self.exchange.timeout = int(self._remaining() * 1000)
        return getattr(self.exchange, method)(*args)

    def _remaining(self) -> float:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0.001:
            raise BrokerUnavailable(f"Kraken did not answer within {self.timeout:g} seconds.")
        return remaining

    def close(self) -> None:
        self.exchange.close()


# --- errors ----------------------------------------------------------------------------------


def kraken_errors(exc: BaseException) -> str:
    """Kraken's own error strings out of a ccxt message ("kraken {"error":["EOrder:..."]}")."""
    text = str(exc)
    start = text.find("{")
    if start >= 0:
        try:
            errors = json.loads(text[start:]).get("error") or []
        except (ValueError, AttributeError):
            errors = []
        if errors:
            return "; ".join(str(e) for e in errors)
    return " ".join(text.split())[:300] or type(exc).__name__


AUTH_HINTS: Final = (
    ("Invalid key", "Kraken does not know this API key: check that it was copied whole and is not deleted."),
    ("Invalid signature", "Kraken could not verify the signature: the private key does not belong to this API key."),
    (
        "Permission denied",
        "The API key lacks a permission: allow Query Funds, Query Open Orders & Trades, "
        "Query Closed Orders & Trades, and Create & Modify Orders.",
    ),
)
RULES: Final = (
    ("Unknown asset pair|Invalid asset pair|Unknown asset", InvalidSymbol),
    ("Unknown order|Invalid order", OrderNotFound),
    ("Insufficient funds", InsufficientFunds),
    ("Rate limit|Too many requests|Temporary lockout|Throttled", RateLimited),
    ("EService:|Internal error|EDatabase:", BrokerUnavailable),
    ("EOrder:|EGeneral:Invalid arguments", OrderRejected),
)


def _auth(exc: BaseException) -> BrokerError:
    errors = kraken_errors(exc)
    for marker, hint in AUTH_HINTS:
        if marker in errors:
            return AuthenticationFailed(f"{hint} ({errors})")
    return AuthenticationFailed(f"Kraken refused the credentials ({errors}).")


def _by_code(exc: BaseException) -> BrokerError | None:
    errors = kraken_errors(exc)
    if re.search("Invalid key|Invalid signature|Permission denied", errors):
        return _auth(exc)
    for pattern, error in RULES:
        if re.search(pattern, errors):
            return error(f"Kraken: {errors}", retry_after=RETRY_AFTER if error is RateLimited else None)
    return None


def _as(error: type[BrokerError]) -> Any:
    return lambda exc: error(f"Kraken: {kraken_errors(exc)}", retry_after=RETRY_AFTER if error is RateLimited else None)


TRANSLATOR = Translator(
    "Kraken",
    rules=(
        # InvalidNonce, DDoSProtection and RateLimitExceeded are NetworkErrors in ccxt: first.
        (ccxt.InvalidNonce, _as(BrokerUnavailable)),
        ((ccxt.DDoSProtection, ccxt.RateLimitExceeded), _as(RateLimited)),
        (ccxt.NetworkError, _as(BrokerUnavailable)),
        (ccxt.AuthenticationError, _auth),
        (ccxt.InsufficientFunds, _as(InsufficientFunds)),
        (ccxt.BadSymbol, _as(InvalidSymbol)),
        (ccxt.OrderNotFound, _as(OrderNotFound)),
        (ccxt.InvalidOrder, _by_code),  # ccxt files "EOrder:Unknown order" under InvalidOrder
        (ccxt.InvalidOrder, _as(OrderRejected)),
        (ccxt.ExchangeError, _by_code),  # codes ccxt does not map (EAPI:Invalid signature, ...)
    ),
)
