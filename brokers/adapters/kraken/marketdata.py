"""`KrakenMarketData`: watchlist quotes from Kraken's public endpoints (no key), for `MARKET_DATA_SOURCE`.

Symbols are validated against AssetPairs, loaded once an hour per process (no call per symbol);
quotes for a whole batch come from one Ticker call. Kraken throttles public calls per IP at about
one a second.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import ClassVar

from brokers.adapters.base import InvalidSymbol, Quote
from brokers.adapters.capabilities import RateLimit
from brokers.adapters.kraken import payloads
from brokers.adapters.kraken.client import TRANSLATOR, KrakenClient, timeout_seconds


class KrakenMarketData:
    key: ClassVar[str] = "kraken"
    rate_limit: ClassVar[RateLimit] = RateLimit(1, 1, scope="ip")
    batch_size: ClassVar[int] = 100  # pairs per Ticker call, well within a URL's length

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one ccxt client, shared by the threads of a process
        self._client = KrakenClient(timeout=timeout_seconds())

    @TRANSLATOR.edge
    def validate(self, symbol: str) -> str:
        """`" btc/usd "` → `"BTC/USD"`; Kraken's own XBT/XDG names are accepted as BTC/DOGE."""
        with self._lock:
            self._client.begin()
            markets = self._client.markets()
            base, _, quote = symbol.strip().upper().partition("/")
            code = self._client.exchange.safe_currency_code
            canonical = f"{code(base)}/{code(quote)}" if base and quote else symbol
            if canonical not in markets:
                raise InvalidSymbol(f"Kraken does not list {symbol.strip()}.")
            return canonical

    @TRANSLATOR.edge
    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        with self._lock:
            self._client.begin()
            markets = self._client.markets()
            known = [s for s in dict.fromkeys(symbols) if s in markets]
            if not known:
                return {}
            tickers = self._client.call("fetch_tickers", known)
            return {s: payloads.quote(s, tickers[s]["info"]) for s in known if s in tickers}
