"""`KrakenSimulator`: Kraken's Spot REST API on loopback, for the unmodified ccxt `kraken`.

Every answer is HTTP 200 with `{"error": [...], "result": {...}}`, errors included, as Kraken
answers (https://docs.kraken.com/api/docs/guides/spot-errors). Public market data:
- Time: https://docs.kraken.com/api-reference/market-data/get-server-time
- SystemStatus: https://docs.kraken.com/api-reference/market-data/get-system-status
- Assets: https://docs.kraken.com/api-reference/market-data/get-asset-info
- AssetPairs: https://docs.kraken.com/api-reference/market-data/get-tradable-asset-pairs
- Ticker (`pair=` a comma list; one unknown pair fails the call):
  https://docs.kraken.com/api-reference/market-data/get-ticker-information
Private endpoints are admitted by `auth.KeyRing` (key, signature, nonce, call counter) and answered
by `trading` (AddOrder, CancelOrder) and `queries` (the rest).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

from tests.simulators.base import Fault, HttpSimulator, Request, Response
from tests.simulators.kraken import queries, trading
from tests.simulators.kraken.auth import KeyRing, KrakenError, Tier, make_credentials
from tests.simulators.kraken.book import Book
from tests.simulators.kraken.catalog import ASSETS, PAIRS, Pair, asset_body, find_pair, fixed
from tests.simulators.kraken.orders import Order, Trade

PrivateHandler = Callable[[dict[str, str]], dict[str, Any]]
# Call-counter cost per private endpoint; the ones not listed cost 1.
COSTS = {"TradesHistory": 2, "Ledgers": 2, "AddOrder": 0, "CancelOrder": 0}


def ok(result: Any) -> Response:
    return Response(200, {"error": [], "result": result})


def failed(code: str) -> Response:
    return Response(200, {"error": [code], "result": {}})


class KrakenSimulator(HttpSimulator):
    """One Kraken account with one accepted API key (`api_key`, `api_secret`); more by `add_key()`."""

    name = "kraken-simulator"

    def __init__(self, tier: Tier | None = None) -> None:
        super().__init__()
        self.offset = 0.0  # seconds added to the rate counters' clock (`advance`)
        self.keys = KeyRing(clock=lambda: time.monotonic() + self.offset, tier=tier or Tier())
        self.book = Book(self.faults)
        self.api_key, self.api_secret = self.add_key()
        for path, handler in (
            ("Time", self._time),
            ("SystemStatus", self._status),
            ("Assets", self._assets),
            ("AssetPairs", self._asset_pairs),
            ("Ticker", self._ticker),
        ):
            self.route("GET", f"/0/public/{path}", handler)
        book = self.book
        private: dict[str, PrivateHandler] = {
            "Balance": lambda p: queries.balance(book, p),
            "BalanceEx": lambda p: queries.balance_ex(book, p),
            "OpenOrders": lambda p: queries.open_orders(book, p),
            "ClosedOrders": lambda p: queries.closed_orders(book, p),
            "QueryOrders": lambda p: queries.query_orders(book, p),
            "TradesHistory": lambda p: queries.trades_history(book, p),
            "QueryTrades": lambda p: queries.query_trades(book, p),
            "TradeVolume": lambda p: queries.trade_volume(book, p),
        }
        for path, handler in private.items():
            self.route("POST", f"/0/private/{path}", self._private(path, handler))
        self.route("POST", "/0/private/AddOrder", self._trading("AddOrder", trading.add_order))
        self.route("POST", "/0/private/CancelOrder", self._trading("CancelOrder", trading.cancel_order))

    # -- controls for tests ------------------------------------------------------------------

    def add_key(self) -> tuple[str, str]:
        """Another API key of this account (its own nonces and counter)."""
        key, secret = make_credentials()
        self.keys.add(key, secret)
        return key, secret

    def pair(self, symbol: str) -> Pair:
        pair = find_pair(symbol)
        if pair is None:
            raise KeyError(symbol)
        return pair

    def price(self, symbol: str) -> Decimal:
        return self.book.markets[self.pair(symbol).id].last

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the last price; resting orders that it reaches fill (or trigger)."""
        with self.lock:
            self.book.set_price(self.pair(symbol), Decimal(price))

    def fill(self, txid: str, qty: Decimal | None = None, price: Decimal | None = None) -> Trade:
        with self.lock:
            return self.book.fill(self.book.orders[txid], qty, price)

    def fund(self, cash: Decimal, asset: str = "ZUSD") -> None:
        with self.lock:
            self.book.balances[asset] = Decimal(cash)

    def advance(self, seconds: float) -> None:
        """Let the rate counters decay as if `seconds` had passed."""
        self.offset += seconds

    def order(self, txid: str) -> Order:
        return self.book.orders[txid]

    def orders_by_client_id(self, cl_ord_id: str) -> list[Order]:
        return [o for o in self.book.orders.values() if o.cl_ord_id == cl_ord_id]

    # -- plumbing ------------------------------------------------------------------------------

    def fault_response(self, fault: Fault, request: Request) -> Response:
        if fault.kind == "rate_limit":  # Kraken says so in a 200 body, not with a 429
            return failed("EAPI:Rate limit exceeded")
        return Response(fault.status or 503, {"error": ["EService:Unavailable"], "result": {}})

    def not_found(self, request: Request) -> Response:
        return Response(404, {"error": ["EGeneral:Unknown method"], "result": {}})

    def _private(self, path: str, handler: PrivateHandler) -> Callable[[Request], Response]:
        def run(request: Request) -> Response:
            try:
                params = self.keys.admit(
                    path=request.path, headers=request.headers, body=request.body, cost=COSTS.get(path, 1)
                )
                return ok(handler(params))
            except KrakenError as exc:
                return failed(exc.code)

        return run

    def _trading(self, path: str, handler: Callable[..., dict[str, Any]]) -> Callable[[Request], Response]:
        def call(params: dict[str, str], request: Request) -> dict[str, Any]:
            return handler(self.book, self.keys, request.headers.get("api-key", ""), params)

        def run(request: Request) -> Response:
            try:
                params = self.keys.admit(path=request.path, headers=request.headers, body=request.body, cost=0)
                return ok(call(params, request))
            except KrakenError as exc:
                return failed(exc.code)

        return run

    # -- public ----------------------------------------------------------------------------------

    def _time(self, request: Request) -> Response:
        now = datetime.now(UTC)
        return ok({"unixtime": int(now.timestamp()), "rfc1123": format_datetime(now)})

    def _status(self, request: Request) -> Response:
        return ok({"status": "online", "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})

    def _assets(self, request: Request) -> Response:
        wanted = _names(request)
        known = {asset: asset_body(asset) for asset in ASSETS}
        if wanted:
            by_name = {name: asset for asset, (alt, _, _) in ASSETS.items() for name in (asset, alt)}
            if any(name not in by_name for name in wanted):
                return failed("EQuery:Unknown asset")
            known = {by_name[name]: known[by_name[name]] for name in wanted}
        return ok(known)

    def _asset_pairs(self, request: Request) -> Response:
        pairs = self._pairs(request)
        return failed("EQuery:Unknown asset pair") if pairs is None else ok({p.id: p.body() for p in pairs})

    def _ticker(self, request: Request) -> Response:
        pairs = self._pairs(request)
        if pairs is None:
            return failed("EQuery:Unknown asset pair")
        with self.lock:
            return ok({p.id: self._tick(p) for p in pairs})

    def _pairs(self, request: Request) -> list[Pair] | None:
        wanted = _names(request)
        if not wanted:
            return list(PAIRS)
        found = [find_pair(name) for name in wanted]
        return None if any(p is None for p in found) else [p for p in found if p]

    def _tick(self, pair: Pair) -> dict[str, Any]:
        """https://docs.kraken.com/api-reference/market-data/get-ticker-information: a ask, b bid,
        c last trade, v volume, p vwap, t trade count, l low, h high (today, last 24 h), o today's open."""
        market, px = self.book.markets[pair.id], pair.px
        volume = fixed(market.volume, pair.lot_decimals)
        return {
            "a": [px(self.book.ask(pair)), "1", "1.000"],
            "b": [px(self.book.bid(pair)), "1", "1.000"],
            "c": [px(market.last), "0.01000000"],
            "v": [volume, volume],
            "p": [px(market.last), px(market.last)],
            "t": [120, 120],
            "l": [px(market.low), px(market.low)],
            "h": [px(market.high), px(market.high)],
            "o": px(market.open),
        }


def _names(request: Request) -> list[str]:
    return [name for name in (request.arg("pair") or request.arg("asset") or "").split(",") if name]
