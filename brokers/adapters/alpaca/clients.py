"""alpaca-py's two REST clients, built once per adapter, bounded in time.

alpaca-py's REST base (`alpaca/common/rest.py`) sends every request through one
`requests.Session` with NO timeout, and retries a 429 or 504 three times, sleeping 3 s
between tries, inside a single call: up to 9 s of blind sleeping on top of four unbounded
requests. Its `retry_attempts`/`retry_wait_seconds`/`retry_exception_codes` options live on
that base, but `TradingClient` and `StockHistoricalDataClient` do not pass them through, so
the adapter sets the same three attributes the base's constructor sets (`_retry`,
`_retry_wait`, `_retry_codes`) right after building each client:

- a 429 is never retried inside the SDK: it reaches our limiter at once as `RateLimited`;
- a 504 (Alpaca's edge timed out) is retried once after 1 s; a repeated POST carries the same
  `client_order_id`, which Alpaca refuses to place twice;
- every request gets an HTTP timeout through a `requests` transport adapter mounted on the
  client's session, sized so that both tries and the wait fit in the call's budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alpaca.common.rest import RESTClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from django.conf import settings
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

SDK_RETRIES = 1  # extra tries of a request answered with one of SDK_RETRY_CODES
SDK_RETRY_WAIT = 1  # seconds between them
SDK_RETRY_CODES = [504]
MAX_CONNECT_SECONDS = 2.0


@dataclass(frozen=True)
class Budget:
    """How one adapter call's `seconds` are shared between the SDK's tries and its wait."""

    seconds: float

    @property
    def per_try(self) -> float:
        return (self.seconds - SDK_RETRIES * SDK_RETRY_WAIT) / (SDK_RETRIES + 1)

    @property
    def http_timeout(self) -> tuple[float, float]:
        """(connect, read) for `requests`; together at most one try's share."""
        connect = min(MAX_CONNECT_SECONDS, self.per_try / 2)
        return connect, self.per_try - connect


def call_budget(declared: float) -> Budget:
    """The declared capability, tightened (never loosened) by BROKER_TIMEOUT_SECONDS."""
    return Budget(min(declared, settings.BROKER_TIMEOUT_SECONDS))


class _TimeoutAdapter(HTTPAdapter):
    """A transport that applies a default timeout: alpaca-py never passes one."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.timeout = timeout

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, *args, **kwargs)


def _bounded(client: RESTClient, budget: Budget) -> None:
    client._retry = SDK_RETRIES
    client._retry_wait = SDK_RETRY_WAIT
    client._retry_codes = list(SDK_RETRY_CODES)
    transport = _TimeoutAdapter(budget.http_timeout)
    client._session.mount("https://", transport)
    client._session.mount("http://", transport)


def _url(value: str) -> str | None:
    """An endpoint from settings; empty means Alpaca's own (the SDK picks paper or live)."""
    return value.rstrip("/") or None


def trading_client(key_id: str, secret_key: str, *, paper: bool, budget: Budget) -> TradingClient:
    client = TradingClient(key_id, secret_key, paper=paper, url_override=_url(settings.ALPACA_API_URL))
    _bounded(client, budget)
    return client


def data_client(key_id: str, secret_key: str, *, budget: Budget) -> StockHistoricalDataClient:
    client = StockHistoricalDataClient(key_id, secret_key, url_override=_url(settings.ALPACA_DATA_URL))
    _bounded(client, budget)
    return client


def close(*clients: RESTClient) -> None:
    for client in clients:
        client._session.close()
