"""`CoinbaseMarketData`: watchlist quotes from Coinbase's public Advanced Trade market endpoints (no key).

https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/public/list-public-products

Symbols are validated against the public product list, fetched once and cached for an hour (so a
validation costs no call of its own); quotes come from one List Public Products call per batch,
which carries the last price, the 24h change and volume but no order book: bid and ask are the
last price.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.utils import timezone

from brokers.adapters.base import InvalidSymbol, Quote
from brokers.adapters.capabilities import RateLimit
from brokers.adapters.coinbase import auth, payloads
from brokers.adapters.coinbase.errors import TRANSLATOR

if TYPE_CHECKING:
    import ccxt

PRODUCTS_TTL = 3600.0


class CoinbaseMarketData:
    key: ClassVar[str] = "coinbase"
    # Advanced Trade public endpoints: 10 requests per second per IP.
    rate_limit: ClassVar[RateLimit] = RateLimit(10, 1, scope="ip")
    batch_size: ClassVar[int] = 100  # product ids per call (they travel in the query string)

    def __init__(self) -> None:
        self._client: ccxt.coinbase | None = None
        self._products: dict[str, dict[str, Any]] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    @property
    def _ex(self) -> ccxt.coinbase:
        if self._client is None:
            self._client = auth.exchange()  # no key: public endpoints only
        return self._client

    def _catalogue(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            if not self._products or time.monotonic() - self._loaded_at > PRODUCTS_TTL:
                listed = self._ex.v3PublicGetBrokerageMarketProducts({"product_type": "SPOT"})
                products = {str(p["product_id"]): p for p in listed.get("products") or []}
                self._products = {pid: p for pid, p in products.items() if payloads.is_tradable(p)}
                self._loaded_at = time.monotonic()
            return self._products

    @TRANSLATOR.edge
    def validate(self, symbol: str) -> str:
        """`" btc/usd "` → `"BTC/USD"` when Coinbase trades it; InvalidSymbol otherwise."""
        product = payloads.product_id(symbol)
        if product not in self._catalogue():
            raise InvalidSymbol(f"Coinbase does not trade {symbol.strip().upper()}.")
        return payloads.symbol_of(product)

    @TRANSLATOR.edge
    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Latest quotes keyed by canonical symbol, one public call; unknown symbols are left out."""
        catalogue, ids = self._catalogue(), set()
        for symbol in symbols:
            try:
                ids.add(payloads.product_id(symbol))
            except InvalidSymbol:
                continue
        wanted = sorted(ids & catalogue.keys())
        if not wanted:
            return {}
        listed = self._ex.v3PublicGetBrokerageMarketProducts({"product_ids": wanted})
        now = timezone.now()
        found = [payloads.quote(p, None, now=now) for p in listed.get("products") or [] if p.get("product_id") in ids]
        return {q.symbol: q for q in found}
