"""The simulated IB account: listings, orders, executions, cash and positions, and the matching.

Every change goes through `Book` under the simulator's lock and is reported to a `Notify`
(the server), which turns it into the messages TWS would send. Prices are USD; cash is kept in
the account's base currency (`rate` base units per USD, 1 for a USD account), as IB books a USD
stock trade in an EUR account.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from tests.simulators.tws.wire import ib_time

CENT = Decimal("0.01")
OPEN = ("PreSubmitted", "Submitted")
# IBKR Pro tiered, US stocks: USD 0.0035 a share, at least 0.35, at most 1 % of the trade value.
PER_SHARE, MIN_COMMISSION, MAX_PCT = Decimal("0.0035"), Decimal("0.35"), Decimal("0.01")


@dataclass
class Listing:
    symbol: str  # as IB names it, e.g. "BRK B"
    con_id: int
    price: Decimal
    exchange: str = "NASDAQ"
    min_tick: Decimal = CENT
    long_name: str = ""
    close: Decimal = Decimal(0)
    volume: int = 1_250_000

    @property
    def ib_symbol(self) -> str:
        return self.symbol

    @property
    def bid(self) -> Decimal:
        return self.price - self.min_tick

    @property
    def ask(self) -> Decimal:
        return self.price + self.min_tick


@dataclass
class SimOrder:
    order_id: int
    client_id: int
    perm_id: int
    account: str
    listing: Listing
    action: str
    qty: Decimal
    order_type: str
    lmt: Decimal | None
    aux: Decimal | None
    tif: str
    order_ref: str
    parent_id: int = 0
    oca_group: str = ""
    status: str = "PendingSubmit"
    filled: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    last_fill: Decimal = Decimal(0)
    triggered: bool = False
    held: bool = False  # a bracket child waiting for its parent to fill
    parent_perm_id: int = 0
    completed_time: str = ""
    completed_status: str = ""
    children: list[SimOrder] = field(default_factory=list)

    @property
    def is_buy(self) -> bool:
        return self.action == "BUY"

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


@dataclass
class SimExecution:
    exec_id: str
    order: SimOrder
    qty: Decimal
    price: Decimal
    commission: Decimal
    cum_qty: Decimal
    avg_price: Decimal
    realized: Decimal = Decimal(0)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Holding:
    qty: Decimal = Decimal(0)
    avg_cost: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)


class Notify(Protocol):
    def order_changed(self, order: SimOrder) -> None: ...
    def order_rejected(self, order: SimOrder, text: str) -> None: ...
    def executed(self, execution: SimExecution) -> None: ...
    def commission(self, execution: SimExecution) -> None: ...
    def account_changed(self, symbol: str) -> None: ...


def commission_for(qty: Decimal, price: Decimal) -> Decimal:
    fee = max(MIN_COMMISSION, PER_SHARE * qty)
    return min(fee, MAX_PCT * qty * price).quantize(CENT, ROUND_HALF_UP)


class Book:
    def __init__(self, *, account: str, currency: str, cash: Decimal, rate: Decimal, notify: Notify) -> None:
        self.account, self.currency, self.cash, self.rate = account, currency, cash, rate
        self.notify = notify
        self.listings: dict[str, Listing] = {}
        self.orders: dict[int, SimOrder] = {}  # permId → order, transmitted ones only
        self.executions: list[SimExecution] = []
        self.holdings: dict[str, Holding] = {}
        self.refusals: list[str] = []  # reasons the next transmitted orders are rejected with
        self._perm_ids = itertools.count(1_840_000_001)
        self._exec_seq = itertools.count(1)
        self._con_ids = itertools.count(900_001)

    # -- listings ------------------------------------------------------------------------

    def list(self, symbol: str, price: Decimal, **extra: object) -> Listing:
        listing = self.listings.get(symbol)
        if listing is None:
            listing = Listing(symbol, next(self._con_ids), price, close=price, long_name=symbol, **extra)  # type: ignore[arg-type]
            self.listings[symbol] = listing
        return listing

    def by_con_id(self, con_id: int) -> Listing | None:
        return next((x for x in self.listings.values() if x.con_id == con_id), None)

    def new_perm_id(self) -> int:
        return next(self._perm_ids)

    # -- account -------------------------------------------------------------------------

    def positions_value(self) -> Decimal:
        return sum((h.qty * self.listings[s].price for s, h in self.holdings.items()), Decimal(0)) * self.rate

    def net_liquidation(self) -> Decimal:
        return (self.cash + self.positions_value()).quantize(CENT)

    # -- orders --------------------------------------------------------------------------

    def activate(self, group: list[SimOrder]) -> None:
        """A transmitted order (with the untransmitted parent and siblings it completes) goes live."""
        parent, children = group[0], group[1:]
        problem = self.refusals.pop(0) if self.refusals else self._funds_problem(parent) if not parent.parent_id else ""
        for order in group:
            self.orders[order.perm_id] = order
        if problem:
            self._reject(parent, problem)
            for child in children:
                self._finish(child, "Cancelled", "Cancelled by the system: parent rejected")
            return
        self._accept(parent)
        for child in children:
            child.parent_perm_id = parent.perm_id
            parent.children.append(child)
            child.held = parent.status != "Filled"
            self._accept(child)

    def _accept(self, order: SimOrder) -> None:
        order.status = "PreSubmitted" if order.held or order.order_type in ("STP", "STP LMT") else "Submitted"
        self.notify.order_changed(order)
        self.match(order)
        if order.tif in ("IOC", "FOK") and order.is_open and not order.held:  # what cannot fill at once
            self._finish(order, "Cancelled", "Cancelled: not immediately fillable")

    def _funds_problem(self, order: SimOrder) -> str:
        if not order.is_buy:
            return ""
        reference = order.lmt or order.aux or order.listing.ask
        needed = (order.qty * reference + commission_for(order.qty, reference)) * self.rate
        if needed <= self.cash:
            return ""
        return (
            "YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR EQUITY WITH LOAN VALUE "
            f"[{self.cash.quantize(CENT)} {self.currency}] MUST EXCEED THE INITIAL MARGIN "
            f"[{needed.quantize(CENT)} {self.currency}]"
        )

    def _reject(self, order: SimOrder, reason: str) -> None:
        order.status, order.completed_status = "Inactive", f"Rejected: {reason}"
        order.completed_time = ib_time(datetime.now(UTC))
        self.notify.order_rejected(order, reason)

    def _finish(self, order: SimOrder, status: str, why: str) -> None:
        order.status, order.completed_status = status, why
        order.completed_time = ib_time(datetime.now(UTC))
        self.notify.order_changed(order)

    def cancel(self, order: SimOrder) -> bool:
        if not order.is_open:
            return False
        self._finish(order, "Cancelled", "Cancelled by Trader")
        for child in order.children:
            if child.is_open:
                self._finish(child, "Cancelled", "Cancelled by Trader")
        return True

    def set_price(self, symbol: str, price: Decimal) -> None:
        listing = self.listings[symbol]
        listing.price = price
        for order in sorted(self.orders.values(), key=lambda o: o.perm_id):
            if order.listing is listing:
                self.match(order)
        self.notify.account_changed(symbol)

    # -- matching ------------------------------------------------------------------------

    def match(self, order: SimOrder) -> None:
        """Fill `order` if the market reaches it now (stops trigger first, then act as MKT/LMT)."""
        if not order.is_open or order.held:
            return
        price = order.listing.price
        if order.order_type in ("STP", "STP LMT") and not order.triggered:
            order.triggered = price >= order.aux if order.is_buy else price <= order.aux  # type: ignore[operator]
            if not order.triggered:
                return
        if order.order_type in ("MKT", "STP"):
            self.fill(order, price)
        elif order.lmt is not None and (price <= order.lmt if order.is_buy else price >= order.lmt):
            self.fill(order, min(price, order.lmt) if order.is_buy else max(price, order.lmt))

    def fill(self, order: SimOrder, price: Decimal) -> SimExecution:
        qty = order.remaining
        fee = commission_for(qty, price)
        realized = self._book_position(order, qty, price, fee)
        order.avg_price = (order.avg_price * order.filled + price * qty) / (order.filled + qty)
        order.filled += qty
        order.last_fill = price
        seq = next(self._exec_seq)
        execution = SimExecution(
            f"0000e0d5.{order.perm_id:08x}.{seq:02d}.01",
            order,
            qty,
            price,
            fee,
            order.filled,
            order.avg_price,
            realized,
        )
        self.executions.append(execution)
        self.notify.executed(execution)
        self._finish(order, "Filled", f"Filled Size: {order.filled}")
        self.notify.commission(execution)
        self.notify.account_changed(order.listing.symbol)
        self._after_fill(order)
        return execution

    def correct(self, exec_id: str, price: Decimal) -> SimExecution:
        """IB corrects an execution: the same fill again, its execId different only after the last period."""
        old = next(e for e in self.executions if e.exec_id == exec_id)
        head, number = old.exec_id.rsplit(".", 1)
        new = SimExecution(
            f"{head}.{int(number) + 1:02d}", old.order, old.qty, price, old.commission, old.cum_qty, price, old.realized
        )
        self.cash += (old.price - price) * old.qty * self.rate * (1 if old.order.is_buy else -1)
        self.executions[self.executions.index(old)] = new
        self.notify.executed(new)
        self.notify.commission(new)
        return new

    def _book_position(self, order: SimOrder, qty: Decimal, price: Decimal, fee: Decimal) -> Decimal:
        signed = qty if order.is_buy else -qty
        self.cash -= (signed * price + fee) * self.rate
        holding = self.holdings.setdefault(order.listing.symbol, Holding())
        realized = Decimal(0)
        if holding.qty and (holding.qty > 0) != (signed > 0):  # closing (part of) a position
            closed = min(abs(signed), abs(holding.qty))
            realized = (price - holding.avg_cost) * closed * (1 if holding.qty > 0 else -1) - fee
            holding.realized += realized
        else:  # opening or adding: IB's average cost includes the commission
            holding.avg_cost = (holding.avg_cost * abs(holding.qty) + qty * price + fee) / (abs(holding.qty) + qty)
        holding.qty += signed
        if holding.qty == 0:
            holding.avg_cost = Decimal(0)
        return realized

    def _after_fill(self, order: SimOrder) -> None:
        for child in order.children:  # a filled parent releases its bracket's exits
            child.held = False
            if child.status == "PreSubmitted" and child.order_type not in ("STP", "STP LMT"):
                child.status = "Submitted"
                self.notify.order_changed(child)
            self.match(child)
        parent = self.orders.get(order.parent_perm_id)
        if parent is not None:  # one exit filled: the other is cancelled (the children are OCA)
            for sibling in parent.children:
                if sibling is not order and sibling.is_open:
                    self._finish(sibling, "Cancelled", "Cancelled by the system: OCA")
