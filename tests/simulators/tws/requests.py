"""What the simulated gateway answers to each API request, by message id.

Field positions follow ib_async's `client.py` (what it sends) and the TWS API reference:
https://interactivebrokers.github.io/tws-api/open_orders.html (open and completed orders),
…/bracket_order.html, …/contract_details.html, …/md_request.html and …/tick_types.html
(snapshot market data), …/message_codes.html (errors 200, 201, 202, 322, 10147, 10148).
Handlers run under the simulator's lock; `self` is the `TwsSimulator`.
"""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from tests.simulators.tws import wire
from tests.simulators.tws.book import Book, Listing, SimOrder
from tests.simulators.tws.session import Session

if TYPE_CHECKING:
    from collections.abc import Callable

NO_SECURITY = "No security definition has been found for the request"
MAX_SUMMARIES = 2  # TWS allows two account summary subscriptions at a time (error 322 beyond)
SUMMARY_TAGS = (
    "AccountType",
    "NetLiquidation",
    "TotalCashValue",
    "SettledCash",
    "BuyingPower",
    "AvailableFunds",
    "ExcessLiquidity",
    "EquityWithLoanValue",
    "GrossPositionValue",
)


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


class Requests:
    """Request handlers of `TwsSimulator` (a mixin: state lives on the simulator)."""

    book: Book
    staged: dict[tuple[int, int], SimOrder]
    next_ids: dict[int, int]
    summaries: dict[int, set[int]]

    def handlers(self) -> dict[str, Callable[[Session, list[str]], None]]:
        return {
            "reqMktData": self.req_mkt_data,
            "placeOrder": self.place_order,
            "cancelOrder": self.cancel_order,
            "reqOpenOrders": self.req_open_orders,
            "reqAllOpenOrders": self.req_open_orders,
            "reqAccountUpdates": self.req_account_updates,
            "reqExecutions": self.req_executions,
            "reqIds": lambda s, f: s.send([9, 1, self.next_ids.get(s.client_id, 1)]),
            "reqContractDetails": self.req_contract_details,
            "reqManagedAccts": lambda s, f: s.send([15, 1, self.book.account]),
            "reqCurrentTime": lambda s, f: s.send([49, 1, int(time.time())]),
            "reqGlobalCancel": self.req_global_cancel,
            "reqPositions": self.req_positions,
            "cancelPositions": lambda s, f: setattr(s, "positions", False),
            "reqAccountSummary": self.req_account_summary,
            "cancelAccountSummary": lambda s, f: self.summaries.get(s.client_id, set()).discard(int(f[2])),
            "reqAccountUpdatesMulti": self.req_account_updates_multi,
            "reqCompletedOrders": self.req_completed_orders,
        }

    # -- contracts and market data -----------------------------------------------------------

    def listing_for(self, con_id: str, symbol: str, currency: str) -> Listing | None:
        if con_id and int(con_id):
            return self.book.by_con_id(int(con_id))
        found = self.book.listings.get(symbol)
        return found if found is not None and currency in ("", "USD") else None

    def req_contract_details(self, session: Session, f: list[str]) -> None:
        req_id = int(f[2])
        listing = self.listing_for(f[3], f[4], f[12]) if f[5] in ("", "STK") else None
        if listing is None:
            session.error(req_id, 200, NO_SECURITY)
            return
        session.send(wire.contract_details(req_id, listing, session.version), [52, 1, req_id])

    def req_mkt_data(self, session: Session, f: list[str]) -> None:
        req_id, listing = int(f[2]), self.listing_for(f[3], f[4], f[12])
        if listing is None:
            session.error(req_id, 200, NO_SECURITY)
            return
        ticks = [(1, listing.bid, 300), (2, listing.ask, 400), (4, listing.price, 100), (9, listing.close, 0)]
        messages = [[58, 1, req_id, 1], *(wire.tick_price(req_id, kind, p, size) for kind, p, size in ticks)]
        messages.append(wire.tick_size(req_id, 8, listing.volume))
        if f[-3] == "1":  # snapshot
            messages.append([57, 1, req_id])
        session.send(*messages)

    # -- orders ------------------------------------------------------------------------------

    def place_order(self, session: Session, f: list[str]) -> None:
        order_id = int(f[1])
        listing = self.listing_for(f[2], f[3], f[11])
        if listing is None:
            session.error(order_id, 200, NO_SECURITY)
            return
        self.next_ids[session.client_id] = max(self.next_ids.get(session.client_id, 1), order_id + 1)
        existing = self._order(session.client_id, order_id)
        if existing is not None:
            self._modify(session, existing, f)
            return
        order = SimOrder(
            order_id, session.client_id, self.book.new_perm_id(), f[23] or self.book.account, listing, f[16],
            Decimal(f[17]), f[18], _decimal(f[19]), _decimal(f[20]), f[21] or "DAY", f[26],
            parent_id=int(f[28] or 0), oca_group=f[22],
        )  # fmt: skip
        if order.order_type not in ("MKT", "LMT", "STP", "STP LMT"):
            session.error(order_id, 387, f"Unsupported order type {order.order_type} for this simulator")
            return
        self._transmit(order, transmit=f[27] == "1")

    def _transmit(self, order: SimOrder, *, transmit: bool) -> None:
        """Untransmitted orders wait; the transmitted last child activates its parent and siblings with it."""
        key = (order.client_id, order.order_id)
        if not transmit:
            self.staged[key] = order
            return
        if not order.parent_id:
            self.book.activate([order])
            return
        parent = self.staged.pop((order.client_id, order.parent_id), None)
        siblings = [self.staged.pop(k) for k, o in sorted(self.staged.items()) if o.parent_id == order.parent_id]
        if parent is not None:
            self.book.activate([parent, *siblings, order])
        else:
            live = self._order(order.client_id, order.parent_id)
            self.book.activate([live, order] if live is not None and live.is_open else [order])

    def _order(self, client_id: int, order_id: int) -> SimOrder | None:
        for order in self.book.orders.values():
            if order.client_id == client_id and order.order_id == order_id:
                return order
        return None

    def _modify(self, session: Session, order: SimOrder, f: list[str]) -> None:
        if not order.is_open:
            session.error(order.order_id, 103, "Duplicate order id")
            return
        order.qty, order.lmt, order.aux = Decimal(f[17]), _decimal(f[19]), _decimal(f[20])
        self.book.notify.order_changed(order)
        self.book.match(order)

    def cancel_order(self, session: Session, f: list[str]) -> None:
        order_id = int(f[2])
        staged = self.staged.pop((session.client_id, order_id), None)
        order = self._order(session.client_id, order_id)
        if staged is not None:
            session.send([3, order_id, "Cancelled", 0, staged.qty, 0, staged.perm_id, staged.parent_id, 0, 0, "", 0])
        elif order is None:
            session.error(order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.")
        elif not self.book.cancel(order):
            state = f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {order.status}."
            session.error(order_id, 10148, state)
        else:
            session.error(order_id, 202, "Order Canceled - reason:")

    def req_global_cancel(self, session: Session, f: list[str]) -> None:
        for order in list(self.book.orders.values()):
            self.book.cancel(order)

    def req_open_orders(self, session: Session, f: list[str]) -> None:
        every = f[0] == "16"  # reqAllOpenOrders: every client's; reqOpenOrders: this client's
        for order in sorted(self.book.orders.values(), key=lambda o: o.perm_id):
            if order.is_open and (every or order.client_id == session.client_id):
                session.send(wire.open_order(order, session.version), wire.order_status(order))
        session.send([53, 1])

    def req_completed_orders(self, session: Session, f: list[str]) -> None:
        for order in sorted(self.book.orders.values(), key=lambda o: o.perm_id):
            if not order.is_open:
                session.send(wire.completed_order(order, session.version))
        session.send([102])

    def req_executions(self, session: Session, f: list[str]) -> None:
        req_id, client_id, account, symbol, side = int(f[2]), int(f[3] or 0), f[4], f[6], f[9]
        for ex in self.book.executions:
            o = ex.order
            if (client_id and o.client_id != client_id) or (account and o.account != account):
                continue
            if (symbol and o.listing.symbol != symbol) or (side and side != o.action):
                continue
            session.send(wire.exec_details(req_id, ex, session.version))
            session.send(wire.commission_report(ex, "USD"))
        session.send([55, 1, req_id])

    # -- account -----------------------------------------------------------------------------

    def account_rows(self) -> list[tuple[str, Any, str]]:
        book, cur = self.book, self.book.currency
        cash, net = book.cash.quantize(Decimal("0.01")), book.net_liquidation()
        gross = book.positions_value().quantize(Decimal("0.01"))
        return [
            ("AccountCode", book.account, ""), ("AccountType", "INDIVIDUAL", ""), ("Currency", cur, cur),
            ("NetLiquidation", net, cur), ("TotalCashValue", cash, cur), ("SettledCash", cash, cur),
            ("CashBalance", cash, cur), ("CashBalance", cash, "BASE"), ("BuyingPower", cash, cur),
            ("AvailableFunds", cash, cur), ("ExcessLiquidity", cash, cur), ("EquityWithLoanValue", net, cur),
            ("GrossPositionValue", gross, cur),
        ]  # fmt: skip

    def req_account_updates(self, session: Session, f: list[str]) -> None:
        session.account_updates = f[2] == "1"
        if not session.account_updates:
            return
        account = self.book.account
        messages = [wire.account_value(k, v, c, account) for k, v, c in self.account_rows()]
        for symbol, holding in self.book.holdings.items():
            if holding.qty:
                messages.append(wire.portfolio(account, self.book.listings[symbol], holding))
        session.send(*messages, [8, 1, time.strftime("%H:%M")], [54, 1, account])

    def req_account_updates_multi(self, session: Session, f: list[str]) -> None:
        req_id, account = int(f[2]), self.book.account
        rows = [[73, 1, req_id, account, "", k, v, c] for k, v, c in self.account_rows()]
        session.send(*rows, [74, 1, req_id])

    def req_account_summary(self, session: Session, f: list[str]) -> None:
        req_id, tags = int(f[2]), set(f[4].split(","))
        active = self.summaries.setdefault(session.client_id, set())
        if len(active) >= MAX_SUMMARIES:
            cause = "Maximum number of account summary requests exceeded"
            session.error(req_id, 322, f"Error processing request:-'bd' : cause - {cause}")
            return
        active.add(req_id)
        rows = [(k, v, c) for k, v, c in self.account_rows() if k in tags and k in SUMMARY_TAGS]
        messages = [[63, 1, req_id, self.book.account, k, v, c] for k, v, c in rows]
        session.send(*messages, [64, 1, req_id])

    def req_positions(self, session: Session, f: list[str]) -> None:
        session.positions = True
        messages = [
            wire.position(self.book.account, self.book.listings[symbol], holding)
            for symbol, holding in self.book.holdings.items()
            if holding.qty
        ]
        session.send(*messages, [62, 1])
