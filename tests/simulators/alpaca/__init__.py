"""A simulator of Alpaca's Trading API v2 and Market Data API v2, for the unmodified alpaca-py.

https://docs.alpaca.markets/reference — one loopback server answers both APIs (point
`ALPACA_API_URL` and `ALPACA_DATA_URL` at `sim.url`; alpaca-py appends `/v2/...`). Paper and live
are separate hosts at Alpaca; here both are this one account. Every request must carry a known
`APCA-API-KEY-ID` with its `APCA-API-SECRET-KEY`, or it is answered 401 with code 40110000.

Test controls: `set_price`, `fill`, `fund`, `answer_next` (a canned answer, e.g. an error body),
the shared `faults` (429 with Alpaca's body and X-RateLimit headers, 5xx, timeout, drop_response,
duplicate_fill), and `orders_placed` (every accepted POST, for never-placed-twice assertions).
"""

from __future__ import annotations

import secrets
import string
import time
from decimal import Decimal

from tests.simulators.alpaca import shapes
from tests.simulators.alpaca.book import OPEN, Asset, Book, Refusal, SimOrder
from tests.simulators.alpaca.orders import order_from
from tests.simulators.base import Fault, Handler, HttpSimulator, Request, Response

__all__ = ["AlpacaSimulator", "Asset"]

_KEY_ALPHABET = string.ascii_uppercase + string.digits
_GATEWAY_PAGE = b"<html><head><title>{status} Gateway Error</title></head><body><center>nginx</center></body></html>"


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


class AlpacaSimulator(HttpSimulator):
    name = "alpaca-sim"
    poll_interval = 0.05  # tests start and stop one per test

    def __init__(self, *, cash: Decimal = Decimal("100000")) -> None:
        super().__init__()
        self._keys: dict[str, str] = {}
        self.key_id, self.secret_key = self.new_key()
        self.book = Book(cash)
        self.book.duplicate_fill = lambda: self.faults.take("fill", ("duplicate_fill",)) is not None
        self.orders_placed: list[str] = []
        self._canned: list[tuple[str, Response]] = []
        self._routes_add()

    def new_key(self, *, paper: bool = True) -> tuple[str, str]:
        """A fresh key pair in Alpaca's format (paper ids start PK, live AK), accepted from now on."""
        key_id = ("PK" if paper else "AK") + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18))
        secret = secrets.token_urlsafe(30)[:40]
        self._keys[key_id] = secret
        return key_id, secret

    # -- controls --------------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal) -> None:
        with self.lock:
            self.book.asset(symbol).price = price
            self.book.work_all()

    def price(self, symbol: str) -> Decimal:
        return self.book.asset(symbol).price

    def fill(self, order_id: str) -> None:
        with self.lock:
            self.book.force_fill(self.book.order(order_id))

    def fund(self, cash: Decimal) -> None:
        with self.lock:
            self.book.cash = cash

    def answer_next(self, match: str, status: int, body: object) -> None:
        """Answer the next request whose `METHOD /path` contains `match` with this, unprocessed."""
        self._canned.append((match, Response(status, body)))

    # -- HTTP --------------------------------------------------------------------------------

    def _routes_add(self) -> None:
        routes: list[tuple[str, str, Handler]] = [
            ("GET", r"/v2/account", lambda r: Response(200, shapes.account(self.book))),
            ("GET", r"/v2/positions", self._positions),
            ("GET", r"/v2/assets", self._assets),
            (
                "GET",
                r"/v2/assets/(?P<symbol>[^/]+)",
                lambda r: Response(200, shapes.asset(self.book.asset(r.params["symbol"]))),
            ),
            ("POST", r"/v2/orders", self._place),
            ("GET", r"/v2/orders", self._orders),
            ("GET", r"/v2/orders:by_client_order_id", self._by_client_id),
            ("GET", r"/v2/orders/(?P<id>[^/]+)", self._order),
            ("DELETE", r"/v2/orders/(?P<id>[^/]+)", self._cancel),
            ("GET", r"/v2/account/activities/FILL", lambda r: Response(200, self.book.fills)),
            ("GET", r"/v2/stocks/quotes/latest", self._latest_quotes),
            ("GET", r"/v2/stocks/snapshots", self._snapshots),
        ]
        for method, pattern, handler in routes:
            self.route(method, pattern, self._guarded(handler))

    def _guarded(self, handler: Handler) -> Handler:
        """Alpaca's key headers first, then the handler; a `Refusal` becomes Alpaca's error body."""

        def run(request: Request) -> Response:
            key_id = request.headers.get("apca-api-key-id", "")
            secret = request.headers.get("apca-api-secret-key", "")
            if not key_id or not secrets.compare_digest(self._keys.get(key_id, "\0"), secret):
                return Response(401, {"code": 40110000, "message": "request is not authorized"})
            try:
                return handler(request)
            except Refusal as refusal:
                return Response(refusal.status, refusal.body)

        return run

    def handle(self, request: Request) -> Response:
        for index, (match, response) in enumerate(self._canned):
            if match in request.target:
                del self._canned[index]
                self.requests.append(request)
                return response
        return super().handle(request)

    def fault_response(self, fault: Fault, request: Request) -> Response:
        """Alpaca's 429 (https://docs.alpaca.markets/docs/trading-api: 200/min per account) and its 5xx."""
        if fault.kind == "rate_limit":
            headers = {
                "X-RateLimit-Limit": "200",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(time.time()) + 1),
            }
            return Response(fault.status or 429, {"code": 42910000, "message": "rate limit exceeded"}, headers)
        status = fault.status or 500
        if status == 500:
            return Response(500, {"code": 50010000, "message": "internal server error occurred"})
        page = _GATEWAY_PAGE.replace(b"{status}", str(status).encode())
        return Response(status, page, {"Content-Type": "text/html"})

    # -- trading -----------------------------------------------------------------------------

    def _positions(self, request: Request) -> Response:
        return Response(200, [shapes.position(self.book, symbol) for symbol in sorted(self.book.positions)])

    def _assets(self, request: Request) -> Response:
        status, asset_class = request.arg("status"), request.arg("asset_class")
        if asset_class not in (None, "us_equity"):
            return Response(200, [])
        listed = [a for a in self.book.assets.values() if status in (None, a.status)]
        return Response(200, [shapes.asset(a) for a in listed])

    def _place(self, request: Request) -> Response:
        """https://docs.alpaca.markets/reference/postorder: answered as accepted, then worked."""
        order = self.book.place(order_from(self.book, request.json() or {}))
        self.orders_placed.append(order.id)
        answer = shapes.order(order)
        self.book.work(order)
        return Response(200, answer)

    def _orders(self, request: Request) -> Response:
        """https://docs.alpaca.markets/reference/getallorders: nested rolls legs under their parent."""
        nested, status = _truthy(request.arg("nested")), request.arg("status", "open")
        orders = [o for o in self.book.orders.values() if not (nested and o.parent is not None)]
        orders = [o for o in orders if _status_matches(o, status)]
        if symbols := request.arg("symbols"):
            orders = [o for o in orders if o.symbol in symbols.split(",")]
        orders.sort(key=lambda o: o.created_at, reverse=request.arg("direction", "desc") == "desc")
        limit = min(int(request.arg("limit") or 50), 500)
        return Response(200, [shapes.order(o, nested=nested) for o in orders[:limit]])

    def _order(self, request: Request) -> Response:
        order = self.book.order(request.params["id"])
        return Response(200, shapes.order(order, nested=_truthy(request.arg("nested"))))

    def _by_client_id(self, request: Request) -> Response:
        order = self.book.by_client_id(request.arg("client_order_id") or "")
        return Response(200, shapes.order(order, nested=False))

    def _cancel(self, request: Request) -> Response:
        """https://docs.alpaca.markets/reference/deleteorderbyorderid: 204, no body."""
        self.book.cancel(self.book.order(request.params["id"]))
        return Response(204)

    # -- market data -------------------------------------------------------------------------

    def _symbols(self, request: Request) -> list[Asset]:
        wanted = [s for s in (request.arg("symbols") or "").split(",") if s]
        if not wanted:
            raise Refusal(400, 40010001, "missing symbols")
        return [self.book.assets[s] for s in wanted if s in self.book.assets]

    def _latest_quotes(self, request: Request) -> Response:
        """https://docs.alpaca.markets/reference/stocklatestquotes-1: unknown symbols are left out."""
        return Response(200, {"quotes": {a.symbol: shapes.quote(a) for a in self._symbols(request)}})

    def _snapshots(self, request: Request) -> Response:
        """https://docs.alpaca.markets/reference/stocksnapshots-1: keyed by symbol at the top level."""
        return Response(200, {a.symbol: shapes.snapshot(a) for a in self._symbols(request)})


def _status_matches(order: SimOrder, status: str | None) -> bool:
    if status == "all":
        return True
    return (order.status in OPEN) == (status != "closed")
