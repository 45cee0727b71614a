"""A loopback Schwab: the OAuth server, the Trader API and the Market Data API, for the unmodified schwab-py.

References (response bodies and error shapes follow them):
- Trader API: https://developer.schwab.com/products/trader-api--individual/details/specifications/Retail%20Trader%20API%20Production
  errors are `ServiceError` `{"message", "errors": [...]}`; `POST .../orders` answers 201 with an empty
  body and the new order's URL in `Location`.
- Market Data API: https://developer.schwab.com/products/trader-api--individual/details/specifications/Market%20Data%20Production
  errors are `ErrorResponse` `{"errors": [{"id", "status", "title", "detail"}]}`; `GET /quotes` maps each
  symbol to its quote and lists unknown ones under `errors.invalidSymbols`.
- OAuth: see `tests/simulators/schwab/oauth.py`.

Every trader and market-data call needs a live bearer token (401 otherwise).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.simulators.base import Fault, HttpSimulator, Request, Response
from tests.simulators.schwab import render
from tests.simulators.schwab.book import Account, Book, OrderRefused
from tests.simulators.schwab.oauth import Clock, OAuthServer, oauth_error

ACCOUNTS = r"/trader/v1/accounts/(?P<hash>[0-9A-F]+)"
ORDER = ACCOUNTS + r"/orders/(?P<order_id>\d+)"


def _plain(value: Any) -> Any:
    """Schwab's JSON numbers are doubles: Decimals leave as numbers, not strings."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def trader_error(status: int, message: str, errors: list[str] | None = None) -> Response:
    return Response(status, {"message": message, "errors": errors or []}, _correl())


def market_error(status: int, title: str, detail: str = "") -> Response:
    error = {"id": str(uuid.uuid4()), "status": str(status), "title": title}
    if detail:
        error["detail"] = detail
    return Response(status, {"errors": [error]}, _correl())


def _correl() -> dict[str, str]:
    return {"Schwab-Client-CorrelId": str(uuid.uuid4())}


def _parse_time(text: str | None) -> datetime | None:
    """`yyyy-MM-dd'T'HH:mm:ss.SSSZ` (schwab-py sends it without the milliseconds)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class SchwabSimulator(HttpSimulator):
    """One Schwab app (`app_key`/`app_secret`, generated) and one individual cash account.

    Controls: `set_price`, `fill(order_id, qty=None)`, `fund(cash)`, `clock.advance(seconds)`,
    `authorize_code(redirect_uri)` (a user's approval without a browser), and `faults.add(...)`
    (`duplicate_fill` reports the next execution twice, with the same `activityId`).
    """

    name = "schwab-simulator"
    poll_interval = 0.05  # tests stop it often

    def __init__(self, *, cash: Decimal = Decimal("100000.00")) -> None:
        super().__init__()
        self.clock = Clock()
        self.oauth = OAuthServer(self.clock)
        self.app_key = secrets.token_hex(16)
        self.app_secret = secrets.token_hex(8)
        self.oauth.register_app(self.app_key, self.app_secret)
        number = "".join(secrets.choice("0123456789") for _ in range(8))
        self.account = Account(number, hashlib.sha256(number.encode()).hexdigest().upper(), cash)
        self.book = Book(self.account, lambda: datetime.now(UTC))  # orders keep wall time; the clock is OAuth's
        self.book.duplicate = lambda order: self.faults.take(f"fill {order.order_id}", ("duplicate_fill",)) is not None
        self._routes_add()

    def _routes_add(self) -> None:
        self.route("GET", r"/v1/oauth/authorize", self.oauth.authorize)
        self.route("POST", r"/v1/oauth/token", self.oauth.token)
        self.route("GET", r"/trader/v1/accounts/accountNumbers", self._authed(self._account_numbers))
        self.route("GET", ACCOUNTS, self._authed(self._account_get))
        self.route("GET", ACCOUNTS + r"/orders", self._authed(self._orders_list))
        self.route("POST", ACCOUNTS + r"/orders", self._authed(self._order_place))
        self.route("POST", ACCOUNTS + r"/previewOrder", self._authed(self._order_preview))
        self.route("GET", ORDER, self._authed(self._order_get))
        self.route("DELETE", ORDER, self._authed(self._order_cancel))
        self.route("GET", r"/marketdata/v1/quotes", self._authed(self._quotes))
        self.route("GET", r"/marketdata/v1/instruments", self._authed(self._instruments))

    # -- controls -----------------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal) -> None:
        with self.lock:
            self.book.set_price(symbol, Decimal(price))

    def price(self, symbol: str) -> Decimal:
        return self.book.listings[symbol].price

    def fill(self, order_id: int | str, qty: Decimal | None = None) -> None:
        """Fill a working order now: a limit at its limit, anything else at the touch."""
        with self.lock:
            order = self.book.orders[int(order_id)]
            listing = self.book.listings[order.symbol]
            price = order.price if order.price is not None else (listing.ask if order.buy else listing.bid)
            order.triggered = True
            self.book.execute(order, qty or order.qty - order.filled, price)

    def fund(self, cash: Decimal) -> None:
        with self.lock:
            self.account.cash = Decimal(cash)

    def authorize_code(self, redirect_uri: str, state: str = "") -> str:
        """The `Location` Schwab would redirect the user's browser to after they approve."""
        query = {"client_id": [self.app_key], "redirect_uri": [redirect_uri]}
        if state:
            query["state"] = [state]
        answer = self.oauth.authorize(Request("GET", "/v1/oauth/authorize", query, {}, b""))
        return answer.headers["Location"]

    def handle(self, request: Request) -> Response:
        response = super().handle(request)
        if isinstance(response.body, dict | list):
            response.body = _plain(response.body)
        return response

    def fault_response(self, fault: Fault, request: Request) -> Response:
        """Schwab's own shape for a throttled or failing call, per API."""
        status = fault.status or (429 if fault.kind == "rate_limit" else 503)
        title = "Too Many Requests" if status == 429 else "Service Unavailable"
        if fault.kind == "server_error" and status == 500:
            title = "Internal Server Error"
        if request.path.startswith("/v1/oauth"):
            response = oauth_error(status, "server_error" if status >= 500 else "too_many_requests", title)
        elif request.path.startswith("/marketdata"):
            response = market_error(status, title)
        else:
            response = trader_error(status, title)
        if status == 429:
            response.headers["Retry-After"] = "1"
        return response

    # -- plumbing -----------------------------------------------------------------------------

    def _authed(self, handler: Any) -> Any:
        def check(request: Request) -> Response:
            if self.oauth.bearer_client(request) is None:
                if request.path.startswith("/marketdata"):
                    return market_error(401, "Unauthorized")
                return trader_error(401, "Client not authorized")
            if "hash" in request.params and request.params["hash"] != self.account.hash_value:
                return trader_error(404, "Account not found")
            return handler(request)

        return check

    def _location(self, order_id: int) -> str:
        return f"{self.url}/trader/v1/accounts/{self.account.hash_value}/orders/{order_id}"

    # -- trader -------------------------------------------------------------------------------

    def _account_numbers(self, request: Request) -> Response:
        return Response(200, [{"accountNumber": self.account.number, "hashValue": self.account.hash_value}])

    def _account_get(self, request: Request) -> Response:
        with_positions = "positions" in (request.arg("fields") or "").split(",")
        return Response(200, render.account_json(self.book, with_positions=with_positions), _correl())

    def _orders_list(self, request: Request) -> Response:
        start, end = _parse_time(request.arg("fromEnteredTime")), _parse_time(request.arg("toEnteredTime"))
        if start is None or end is None:
            return trader_error(400, "fromEnteredTime and toEnteredTime are required and must be ISO-8601 times.")
        status = request.arg("status")
        found = [
            order
            for order in self.book.top
            if start <= order.entered.replace(microsecond=0) <= end and (not status or order.status == status)
        ]
        found.sort(key=lambda o: (o.entered, o.order_id), reverse=True)
        limit = int(request.arg("maxResults") or 3000)
        return Response(200, [render.order_json(self.book, o) for o in found[:limit]], _correl())

    def _body(self, request: Request) -> dict[str, Any] | None:
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _order_place(self, request: Request) -> Response:
        spec = self._body(request)
        if spec is None:
            return trader_error(400, "A validation error occurred while processing the request.", ["Invalid JSON"])
        try:
            order = self.book.place(spec)
        except OrderRefused as exc:
            return trader_error(400, str(exc))
        headers = {**_correl(), "Location": self._location(order.order_id)}
        return Response(201, b"", headers)

    def _order_preview(self, request: Request) -> Response:
        spec = self._body(request)
        if spec is None:
            return trader_error(400, "A validation error occurred while processing the request.", ["Invalid JSON"])
        return Response(200, render.preview_json(self.book, spec), _correl())

    def _order_get(self, request: Request) -> Response:
        order = self.book.orders.get(int(request.params["order_id"]))
        if order is None:
            return trader_error(404, "Order not found")
        return Response(200, render.order_json(self.book, order), _correl())

    def _order_cancel(self, request: Request) -> Response:
        order = self.book.orders.get(int(request.params["order_id"]))
        if order is None:
            return trader_error(404, "Order not found")
        try:
            self.book.cancel(order)
        except OrderRefused as exc:
            return trader_error(400, str(exc))
        return Response(200, b"", _correl())

    # -- market data --------------------------------------------------------------------------

    def _quotes(self, request: Request) -> Response:
        symbols = [s.strip() for s in (request.arg("symbols") or "").split(",") if s.strip()]
        if not symbols:
            return market_error(400, "Bad Request", "Search combination should have min of 1.")
        fields = set((request.arg("fields") or "").split(",")) - {""}
        if fields - render.QUOTE_FIELDS - {"all"}:
            return market_error(400, "Bad Request", "valid fields should be any of all,fundamental,reference,...")
        wanted = render.QUOTE_FIELDS if not fields or "all" in fields else fields
        body: dict[str, Any] = {}
        invalid = [s for s in symbols if s not in self.book.listings]
        for symbol in symbols:
            if symbol in self.book.listings:
                body[symbol] = render.quote_json(self.book, symbol, wanted)
        if invalid:
            body["errors"] = {"invalidSymbols": invalid}
        return Response(200, body, _correl())

    def _instruments(self, request: Request) -> Response:
        projection = request.arg("projection")
        symbols = [s.strip() for s in (request.arg("symbol") or "").split(",") if s.strip()]
        if projection not in ("symbol-search", "symbol-regex", "desc-search", "desc-regex", "search", "fundamental"):
            return market_error(400, "Bad Request", "projection is required")
        found = [self.book.listings[s] for s in symbols if s in self.book.listings]
        instruments = [
            {"cusip": x.cusip, "symbol": x.symbol, "description": x.description, "exchange": x.exchange}
            | {"assetType": "ETF" if x.symbol == "SPY" else "EQUITY"}
            for x in found
        ]
        return Response(200, {"instruments": instruments}, _correl())
