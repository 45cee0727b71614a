"""`CoinbaseSimulator`: Coinbase's Advanced Trade API (v3) and the v2 endpoints ccxt's `coinbase` calls.

Reference: https://docs.cdp.coinbase.com/advanced-trade/reference (each body's page is linked in
market.py, ledger.py and orders.py). Private endpoints require `Authorization: Bearer <JWT>` signed
by a registered CDP key (keys.py); anything else is answered `401 Unauthorized` (plain text, as
Coinbase answers). Public endpoints (`/api/v3/brokerage/market/*`, `/v2/currencies`,
`/v2/exchange-rates`) need no key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tests.simulators.base import Fault, HttpSimulator, Request, Response
from tests.simulators.coinbase import market
from tests.simulators.coinbase.engine import Book
from tests.simulators.coinbase.keys import ApiKey, AuthError, ec_key, verify_bearer
from tests.simulators.coinbase.ledger import Ledger

V3 = "/api/v3/brokerage"
ID = r"(?P<{}>[^/]+)"
UNAUTHORIZED = Response(401, b"Unauthorized\n", {"Content-Type": "text/plain; charset=utf-8"})


def _error(status: int, code: str, message: str) -> Response:
    """Advanced Trade's error body (grpc-gateway style)."""
    return Response(status, {"error": code, "error_details": message, "message": message})


class CoinbaseSimulator(HttpSimulator):
    name = "coinbase-simulator"

    def __init__(self) -> None:
        super().__init__()
        self.products = market.default_products()
        self.ledger = Ledger(("USD", "BTC", "ETH", "SOL", "USDC", "EUR"))
        self.ledger.fund("USD", Decimal("100000.00"))
        self.book = Book(products=self.products, ledger=self.ledger, faults=self.faults)
        self.keys: dict[str, ApiKey] = {}
        self.key = self.add_key(ec_key())  # the account's key; tests may add more
        self.clock_offset = 0.0  # seconds added to Coinbase's clock (to expire tokens)
        self.auth_failures: list[str] = []  # why tokens were refused, for assertions
        self.accounts_page_limit = 250  # Coinbase's maximum page size for List Accounts
        self._routes_public()
        self._routes_private()

    # -- controls for tests ----------------------------------------------------------------

    def add_key(self, key: ApiKey) -> ApiKey:
        self.keys[key.name] = key
        return key

    def product(self, symbol: str) -> market.Product:
        return self.products[symbol.replace("/", "-").upper()]

    def price(self, symbol: str) -> Decimal:
        return self.product(symbol).price

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the last trade price; resting orders of the product are worked against it."""
        with self.lock:
            product = self.product(symbol)
            product.price, product.trade_seq = Decimal(price), product.trade_seq + 1
            for order in [o for o in self.book.orders.values() if o.product_id == product.product_id]:
                self.book.work(order)

    def fill(self, order_id: str) -> None:
        with self.lock:
            self.book.fill(order_id)

    def fund(self, cash: Decimal, currency: str = "USD") -> None:
        """Set the available balance of a currency (USD by default); holds are untouched."""
        with self.lock:
            self.ledger.fund(currency, Decimal(cash))

    def orders_by_client_id(self, client_order_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                self.book.order_json(o.order_id) or {}
                for o in self.book.orders.values()
                if o.client_order_id == client_order_id
            ]

    # -- answers to faults and unknown paths -----------------------------------------------

    def fault_response(self, fault: Fault, request: Request) -> Response:
        if fault.kind == "rate_limit":
            if request.path.startswith("/v2/"):
                return Response(
                    fault.status or 429, {"errors": [{"id": "rate_limit_exceeded", "message": "Too many requests"}]}
                )
            return _error(fault.status or 429, "RATE_LIMIT_EXCEEDED", "Too many requests")
        if (fault.status or 503) == 503:
            return Response(
                503, b"upstream connect error or disconnect/reset before headers\n", {"Content-Type": "text/plain"}
            )
        return _error(fault.status, "INTERNAL", "Internal server error")

    def not_found(self, request: Request) -> Response:
        return Response(404, b"404 page not found\n", {"Content-Type": "text/plain"})

    # -- routing ---------------------------------------------------------------------------

    def _routes_public(self) -> None:
        self.route("GET", "/v2/currencies", lambda r: Response(200, market.fiat_currencies_json()))
        self.route("GET", "/v2/currencies/crypto", lambda r: Response(200, market.crypto_currencies_json()))
        self.route("GET", "/v2/exchange-rates", self._exchange_rates)
        self.route("GET", f"{V3}/market/products", self._products)
        self.route("GET", f"{V3}/market/products/{ID.format('product_id')}", self._product)
        self.route("GET", f"{V3}/market/products/{ID.format('product_id')}/ticker", self._ticker)

    def _routes_private(self) -> None:
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", "/products", self._products),
            ("GET", f"/products/{ID.format('product_id')}", self._product),
            ("GET", f"/products/{ID.format('product_id')}/ticker", self._ticker),
            ("GET", "/best_bid_ask", self._best_bid_ask),
            ("GET", "/accounts", self._accounts),
            ("GET", "/portfolios", lambda r: Response(200, {"portfolios": [self.ledger.portfolio_json()]})),
            ("GET", f"/portfolios/{ID.format('uuid')}", self._breakdown),
            ("GET", "/key_permissions", self._key_permissions),
            ("GET", "/transaction_summary", self._transaction_summary),
            ("POST", "/orders", lambda r: Response(200, self.book.create(r.json() or {}))),
            (
                "POST",
                "/orders/batch_cancel",
                lambda r: Response(200, self.book.cancel(list((r.json() or {}).get("order_ids") or []))),
            ),
            ("GET", "/orders/historical/batch", self._orders),
            ("GET", "/orders/historical/fills", self._fills),
            ("GET", f"/orders/historical/{ID.format('order_id')}", self._order),
        ]
        for method, path, handler in routes:
            self.route(method, V3 + path, self._authenticated(handler))

    def _authenticated(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def check(request: Request) -> Response:
            try:
                verify_bearer(
                    request.headers.get("authorization", ""),
                    keys=self.keys,
                    method=request.method,
                    host=request.headers.get("host", ""),
                    path=request.path,
                    now=time.time() + self.clock_offset,
                )
            except AuthError as exc:
                self.auth_failures.append(str(exc))
                return UNAUTHORIZED
            self.book.sweep()
            return handler(request)

        return check

    # -- market ----------------------------------------------------------------------------

    def _exchange_rates(self, request: Request) -> Response:
        return Response(200, market.exchange_rates_json(self.products, (request.arg("currency") or "USD").upper()))

    def _products(self, request: Request) -> Response:
        if request.arg("product_type") not in (None, "SPOT"):
            return Response(200, market.products_json([]))  # no futures here
        wanted = request.query.get("product_ids")
        chosen = [p for p in self.products.values() if not wanted or p.product_id in wanted]
        return Response(200, market.products_json(chosen))

    def _known(self, request: Request) -> market.Product | None:
        return self.products.get(request.params["product_id"])

    def _product(self, request: Request) -> Response:
        product = self._known(request)
        if product is None:
            return _error(404, "NOT_FOUND", "ProductID is invalid")
        return Response(200, market.product_json(product))

    def _ticker(self, request: Request) -> Response:
        product = self._known(request)
        if product is None:
            return _error(404, "NOT_FOUND", "ProductID is invalid")
        return Response(200, market.ticker_json(product, time.time()))

    def _best_bid_ask(self, request: Request) -> Response:
        wanted = request.query.get("product_ids") or list(self.products)
        books = [market.pricebook_json(self.products[p], time.time()) for p in wanted if p in self.products]
        return Response(200, {"pricebooks": books})

    # -- account ---------------------------------------------------------------------------

    def _accounts(self, request: Request) -> Response:
        limit = min(int(request.arg("limit") or 49), self.accounts_page_limit)
        return Response(200, self.ledger.accounts_json(cursor=request.arg("cursor") or "", limit=limit))

    def _breakdown(self, request: Request) -> Response:
        if request.params["uuid"] != self.ledger.portfolio_uuid:
            return _error(404, "NOT_FOUND", "portfolio not found")
        return Response(200, self.ledger.breakdown_json(self.products))

    def _key_permissions(self, request: Request) -> Response:
        body = {"can_view": True, "can_trade": True, "can_transfer": False}
        return Response(200, {**body, "portfolio_uuid": self.ledger.portfolio_uuid, "portfolio_type": "DEFAULT"})

    def _transaction_summary(self, request: Request) -> Response:
        orders = self.book.orders.values()
        volume = sum((o.filled_value for o in orders), Decimal(0))
        fees = sum((o.fees for o in orders), Decimal(0))
        tier = {
            "pricing_tier": "Advanced 1",
            "usd_from": "0",
            "usd_to": "1000",
            "taker_fee_rate": market.plain(self.book.taker),
            "maker_fee_rate": market.plain(self.book.maker),
            "aop_from": "",
            "aop_to": "",
        }
        return Response(
            200,
            {
                "total_volume": float(volume),
                "total_fees": float(fees),
                "fee_tier": tier,
                "margin_rate": None,
                "goods_and_services_tax": None,
                "advanced_trade_only_volume": float(volume),
                "advanced_trade_only_fees": float(fees),
                "coinbase_pro_volume": 0,
                "coinbase_pro_fees": 0,
                "total_balance": "",
                "has_promo_fee": False,
            },
        )

    # -- orders ----------------------------------------------------------------------------

    def _order(self, request: Request) -> Response:
        body = self.book.order_json(request.params["order_id"])
        if body is None:
            return _error(404, "NOT_FOUND", "order with this orderID was not found")
        return Response(200, {"order": body})

    def _orders(self, request: Request) -> Response:
        """List Orders: newest first, filtered, paginated by an opaque cursor."""
        statuses = set(request.query.get("order_status") or [])
        ids = set(request.query.get("order_ids") or [])
        products = set(request.query.get("product_ids") or [])
        chosen = [
            o
            for o in sorted(self.book.orders.values(), key=lambda o: o.created, reverse=True)
            if (not statuses or o.status in statuses)
            and (not ids or o.order_id in ids)
            and (not products or o.product_id in products)
        ]
        page, more, cursor = _page(chosen, request, default=1000)
        orders = [self.book.order_json(o.order_id) for o in page]
        return Response(200, {"orders": orders, "sequence": "0", "has_next": more, "cursor": cursor})

    def _fills(self, request: Request) -> Response:
        ids = set(request.query.get("order_ids") or request.query.get("order_id") or [])
        products = set(request.query.get("product_ids") or [])
        chosen = [
            f
            for f in reversed(self.book.fills)
            if (not ids or f["order_id"] in ids) and (not products or f["product_id"] in products)
        ]
        page, _, cursor = _page(chosen, request, default=100)
        return Response(200, {"fills": page, "cursor": cursor})


def _page(items: list[Any], request: Request, *, default: int) -> tuple[list[Any], bool, str]:
    start = int(request.arg("cursor") or 0)
    limit = int(request.arg("limit") or default)
    more = start + limit < len(items)
    return items[start : start + limit], more, str(start + limit) if more else ""
