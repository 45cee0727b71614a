"""Alpaca's Market Data API as a quote source: for a connection's adapter and for the watchlist.

`latest_quotes` is one batch: `GET /v2/stocks/quotes/latest?symbols=...` for bid/ask, then
`GET /v2/stocks/snapshots?symbols=...` (for the symbols Alpaca knew) for the previous daily
bar's close (the day's change), today's volume and the last trade (a price when a side of the
book is empty). `AlpacaMarketData` is the watchlist's `MarketDataSource` (`MARKET_DATA_SOURCE`
`equity=alpaca`), quoting with the operator's `ALPACA_DATA_KEY_ID`/`ALPACA_DATA_SECRET_KEY`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import ClassVar, cast

from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.models import Quote as AlpacaQuote
from alpaca.data.models import Snapshot
from alpaca.data.requests import StockLatestQuoteRequest, StockSnapshotRequest
from alpaca.trading.enums import AssetClass, AssetStatus
from alpaca.trading.models import Asset
from alpaca.trading.requests import GetAssetsRequest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from brokers.adapters.alpaca import clients, payloads
from brokers.adapters.alpaca.errors import TRANSLATOR
from brokers.adapters.base import AuthenticationFailed, BrokerError, InvalidSymbol, Quote
from brokers.adapters.capabilities import RateLimit


def latest_quotes(client: StockHistoricalDataClient, symbols: Sequence[str]) -> dict[str, Quote]:
    """Quotes keyed by canonical symbol, in two requests for the whole batch; unknown symbols left out."""
    wanted = sorted({s.strip().upper() for s in symbols} - {""})
    wanted = [s for s in wanted if payloads.is_alpaca_symbol(s)]  # one malformed symbol would fail the batch
    if not wanted:
        return {}
    request = StockLatestQuoteRequest(symbol_or_symbols=wanted)
    latest = cast(dict[str, AlpacaQuote], client.get_stock_latest_quote(request))
    if not latest:
        return {}
    snapshot_request = StockSnapshotRequest(symbol_or_symbols=sorted(latest))
    snapshots = cast(dict[str, Snapshot], client.get_stock_snapshot(snapshot_request))
    quotes = (payloads.quote(symbol, latest[symbol], snapshots.get(symbol)) for symbol in sorted(latest))
    return {quote.symbol: quote for quote in quotes if quote is not None}


def tradable_symbols(assets: Sequence[Asset]) -> frozenset[str]:
    return frozenset(a.symbol for a in assets if a.tradable and payloads.is_alpaca_symbol(a.symbol))


class AlpacaMarketData:
    """US equity quotes from Alpaca for the whole site, with the operator's data keys.

    Symbols are validated against Alpaca's list of active US equities, fetched once and kept
    for `ASSETS_TTL` seconds (a stale list is kept if a refresh fails), so validating costs no
    rate-limited call per symbol.
    """

    key: ClassVar[str] = "alpaca"
    # Market Data API, Basic plan: 200 requests per minute per key. One `quotes` batch is two
    # requests and the watchlist's limiter counts one slot per batch, hence 100.
    rate_limit: ClassVar[RateLimit] = RateLimit(100, 60, scope="credential")
    batch_size: ClassVar[int] = 200  # symbols per batch: keeps the query string short
    ASSETS_TTL: ClassVar[float] = 6 * 3600.0

    def __init__(self) -> None:
        self._key_id, self._secret = settings.ALPACA_DATA_KEY_ID, settings.ALPACA_DATA_SECRET_KEY
        if not (self._key_id and self._secret):
            raise ImproperlyConfigured(
                "MARKET_DATA_SOURCE uses alpaca: set ALPACA_DATA_KEY_ID and ALPACA_DATA_SECRET_KEY"
            )
        self._budget = clients.call_budget(settings.BROKER_TIMEOUT_SECONDS)
        self._data = clients.data_client(self._key_id, self._secret, budget=self._budget)
        self._lock = threading.Lock()
        self._symbols: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")

    def validate(self, symbol: str) -> str:
        alpaca = payloads.to_alpaca(symbol)
        if alpaca not in self._tradable():
            raise InvalidSymbol(f"{symbol!r} is not a US equity Alpaca lists as tradable.")
        return alpaca

    @TRANSLATOR.edge
    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        return latest_quotes(self._data, symbols)

    def _tradable(self) -> frozenset[str]:
        with self._lock:
            if time.monotonic() - self._fetched_at > self.ASSETS_TTL:
                try:
                    self._symbols = tradable_symbols(self._assets())
                except BrokerError:
                    if not self._symbols:
                        raise
                self._fetched_at = time.monotonic()
            return self._symbols

    @TRANSLATOR.edge
    def _assets(self) -> list[Asset]:
        """The asset list from the Trading API. With Alpaca's own hosts the operator's key may be a
        paper or a live one (each works on its host only): paper is tried first, then live."""
        hosts = (True,) if settings.ALPACA_API_URL else (True, False)
        for paper in hosts:
            client = clients.trading_client(self._key_id, self._secret, paper=paper, budget=self._budget)
            try:
                with TRANSLATOR.guard():
                    request = GetAssetsRequest(status=AssetStatus.ACTIVE, asset_class=AssetClass.US_EQUITY)
                    return cast(list[Asset], client.get_all_assets(request))
            except AuthenticationFailed:
                if paper == hosts[-1]:
                    raise
            finally:
                clients.close(client)
        return []
