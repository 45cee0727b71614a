"""`TwsSimulator`: a TWS / IB Gateway API socket server for the unmodified ib_async.

Reference: https://interactivebrokers.github.io/tws-api/ (connection, pacing, orders, bracket
orders, executions, account data, error codes) and ib_async's `client.py`/`decoder.py`.

- Handshake and `startApi` as TWS does them; a client id already connected gets error 326
  ("Unable to connect as the client id is already in use…") and its socket is closed.
- Pacing: more than 50 messages in a second from one client is error 100 and a disconnect.
- Orders MKT, LMT, STP, STP LMT; an order sent with `transmit=False` waits, and the child that
  is transmitted activates its parent and siblings (a native bracket); the children of a
  bracket are held until the parent fills and are one-cancels-other after.
- A buy the account cannot pay for is rejected: error 201 "Order rejected - reason:…", then
  status Inactive. Unknown contracts: error 200.
- Faults (tests/simulators/base.py), matched against the request's name (`placeOrder`, …):
  `disconnect` (close the socket), `timeout` (stop answering; drop after `seconds` if given),
  `drop_response` (act on the request, answer nothing, close), `rate_limit` (error 100 and
  close), `server_error` (error 1100 then 1102: IB's servers were unreachable and the request
  is lost), and
  `duplicate_fill` (the next execution's execDetails/commissionReport are sent twice).
"""

from __future__ import annotations

import socket
import time
from decimal import Decimal

from tests.simulators.base import DropConnection, SocketSimulator
from tests.simulators.tws import wire
from tests.simulators.tws.book import Book, SimExecution, SimOrder
from tests.simulators.tws.requests import Requests
from tests.simulators.tws.session import Session, handshake

IN_USE = "Unable to connect as the client id is already in use. Retry with a unique client id."
FARMS = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefil"),
)
DEFAULT_LISTINGS = {"AAPL": ("187.25", 265598), "MSFT": ("411.10", 272093), "SPY": ("512.40", 756733)}


class TwsSimulator(Requests, SocketSimulator):
    name = "tws-simulator"

    def __init__(
        self,
        *,
        account: str = "DU1234567",
        currency: str = "USD",
        cash: Decimal = Decimal("100000"),
        rate: Decimal = Decimal(1),
        server_version: int = 178,
    ) -> None:
        super().__init__()
        self.server_version = server_version
        self.book = Book(account=account, currency=currency, cash=cash, rate=rate, notify=self)
        for symbol, (price, con_id) in DEFAULT_LISTINGS.items():
            self.book.list(symbol, Decimal(price)).con_id = con_id
        self.sessions: dict[int, Session] = {}
        self.staged: dict[tuple[int, int], SimOrder] = {}
        self.next_ids: dict[int, int] = {}
        self.summaries: dict[int, set[int]] = {}
        self.requests: list[tuple[int, str, list[str]]] = []  # (client id, message name, fields)
        self.duplicated_fills: set[str] = set()  # execIds sent twice by a `duplicate_fill` fault
        self._handlers = self.handlers()

    # -- controls for tests -------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal) -> None:
        with self.lock:
            if symbol not in self.book.listings:
                self.book.list(symbol, price)
            self.book.set_price(symbol, price)

    def price(self, symbol: str) -> Decimal:
        return self.book.listings[symbol].price

    def fill(self, perm_id: str | int) -> None:
        """Fill a working order now, at its limit (limit orders) or the market."""
        with self.lock:
            order = self.book.orders[int(perm_id)]
            if order.is_open and not order.held:
                self.book.fill(order, order.lmt if order.lmt is not None else order.listing.price)

    def fund(self, cash: Decimal) -> None:
        with self.lock:
            self.book.cash = cash
            self.account_changed("")

    def correct(self, exec_id: str, price: Decimal) -> str:
        """Send a correction of an execution (a new execId differing after the last period); returns it."""
        with self.lock:
            return self.book.correct(exec_id, price).exec_id

    def reject_next(self, reason: str) -> None:
        """The next transmitted order is rejected (error 201) for `reason`."""
        with self.lock:
            self.book.refusals.append(reason)

    def order_by_ref(self, order_ref: str) -> SimOrder | None:
        return next((o for o in self.book.orders.values() if o.order_ref == order_ref), None)

    def messages(self, name: str) -> list[tuple[int, list[str]]]:
        """Requests of one kind received so far, as (client id, fields)."""
        return [(client, fields) for client, kind, fields in list(self.requests) if kind == name]

    def connected_client_ids(self) -> set[int]:
        with self.lock:
            return {cid for cid, s in self.sessions.items() if not s.closed}

    def restart(self, port: int) -> None:
        """The gateway comes back on the same port (after `stop()`), its account intact."""
        self.start(port)

    # -- serving --------------------------------------------------------------------------------

    def serve(self, conn: socket.socket) -> None:
        session = Session(conn)
        try:
            handshake(session, self.server_version)
            while True:
                fields = wire.read_frame(conn)
                if fields:
                    self._handle(session, fields)
        finally:
            session.closed = True
            with self.lock:
                if self.sessions.get(session.client_id) is session:
                    del self.sessions[session.client_id]
                    self.summaries.pop(session.client_id, None)

    def _handle(self, session: Session, fields: list[str]) -> None:
        name = wire.REQUESTS.get(int(fields[0]), f"message {fields[0]}")
        self.requests.append((session.client_id, name, fields))
        if session.silent:
            return
        if received := session.over_pace():
            session.error(-1, 100, f"Max rate of messages per second has been exceeded:max=50 rec={received} (1)")
            session.hang_up()
        fault = self.faults.take(name, ("disconnect", "timeout", "drop_response", "rate_limit", "server_error"))
        if fault is not None:
            self._fault(session, fault.kind, fault.seconds, fields)
        elif name == "startApi":
            self._start_api(session, int(fields[2]))
        elif session.client_id >= 0 and name in self._handlers:
            with self.lock:
                self._handlers[name](session, fields)

    def _fault(self, session: Session, kind: str, seconds: float, fields: list[str]) -> None:
        if kind == "timeout":
            session.silent = True
            if seconds:
                time.sleep(seconds)
                raise DropConnection
        elif kind == "drop_response":
            session.silent = True
            handler = self._handlers.get(wire.REQUESTS.get(int(fields[0]), ""))
            if handler is not None:
                with self.lock:
                    handler(session, fields)
            raise DropConnection
        elif kind == "server_error":  # the request is lost with IB's servers; they come back at once
            session.error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost.")
            session.error(
                -1, 1102, "Connectivity between IB and Trader Workstation has been restored - data maintained."
            )
        else:
            if kind == "rate_limit":
                session.error(-1, 100, "Max rate of messages per second has been exceeded:max=50 rec=51 (1)")
                session.hang_up()
            raise DropConnection

    def _start_api(self, session: Session, client_id: int) -> None:
        deadline = time.monotonic() + 0.3  # TWS needs a moment to notice a client that just left
        while client_id in self.connected_client_ids() and time.monotonic() < deadline:
            time.sleep(0.01)
        with self.lock:
            refused = client_id in self.sessions
            if not refused:
                session.client_id = client_id
                self.sessions[client_id] = session
            next_id = self.next_ids.get(client_id, 1)
        if refused:
            session.error(-1, 326, IN_USE)
            session.hang_up()
        session.send([9, 1, next_id], [15, 1, self.book.account])
        for code, text in FARMS:
            session.error(-1, code, text)

    # -- Notify: what the book's changes look like on the wire ---------------------------------

    def _owner(self, order: SimOrder) -> Session | None:
        return self.sessions.get(order.client_id)

    def order_changed(self, order: SimOrder) -> None:
        if session := self._owner(order):
            session.send(wire.open_order(order, session.version), wire.order_status(order))

    def order_rejected(self, order: SimOrder, text: str) -> None:
        if session := self._owner(order):
            session.error(order.order_id, 201, f"Order rejected - reason:{text}")
            session.send(wire.order_status(order))

    def executed(self, execution: SimExecution) -> None:
        times = 2 if self.faults.take("execDetails", ("duplicate_fill",)) else 1
        if times == 2:
            self.duplicated_fills.add(execution.exec_id)
        if session := self._owner(execution.order):
            session.send(*[wire.exec_details(-1, execution, session.version)] * times)

    def commission(self, execution: SimExecution) -> None:
        times = 2 if execution.exec_id in self.duplicated_fills else 1
        if session := self._owner(execution.order):
            session.send(*[wire.commission_report(execution, "USD")] * times)

    def account_changed(self, symbol: str) -> None:
        account, holding = self.book.account, self.book.holdings.get(symbol)
        values = [wire.account_value(k, v, c, account) for k, v, c in self.account_rows()]
        for session in list(self.sessions.values()):
            if session.account_updates:
                rows = [wire.portfolio(account, self.book.listings[symbol], holding)] if holding else []
                session.send(*values, *rows, [8, 1, time.strftime("%H:%M")])
            if session.positions and holding is not None:
                session.send(wire.position(account, self.book.listings[symbol], holding))
