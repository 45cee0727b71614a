"""The simulated Schwab account: cash, positions, orders and their executions, and the market they trade in.

Orders follow the Trader API's `Order` schema
(https://developer.schwab.com/products/trader-api--individual/details/specifications/Retail%20Trader%20API%20Production):
`orderStrategyType` SINGLE, TRIGGER (its `childOrderStrategies` are placed when it fills) and OCO (one
child filling cancels the other); executions are `orderActivityCollection` entries with `executionLegs`.
Market orders fill at once at the touch; resting orders fill when `set_price` crosses them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
HALF_SPREAD = Decimal("0.01")
SEC_FEE_RATE = Decimal("0.0000278")  # SEC section 31 fee on sales, per dollar sold
OPEN = {"WORKING", "AWAITING_PARENT_ORDER", "PENDING_ACTIVATION", "QUEUED", "ACCEPTED"}
BUYS = {"BUY", "BUY_TO_COVER"}
UNIVERSE = {  # symbol → (price, cusip, description, exchange)
    "AAPL": ("187.25", "037833100", "Apple Inc", "NASDAQ"),
    "MSFT": ("410.10", "594918104", "Microsoft Corp", "NASDAQ"),
    "SPY": ("512.30", "78462F103", "SPDR S&P 500 ETF", "NYSE Arca"),
    "TSLA": ("175.40", "88160R101", "Tesla Inc", "NASDAQ"),
}


class OrderRefused(Exception):
    """The order is refused at entry (HTTP 400 with this message)."""


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def iso(moment: datetime) -> str:
    """Schwab's timestamps: `2024-03-29T14:20:23+0000`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass
class Listing:
    symbol: str
    price: Decimal
    close: Decimal  # the previous session's close
    cusip: str
    description: str
    exchange: str
    volume: int = 1_000_000
    instrument_id: int = 0

    @property
    def bid(self) -> Decimal:
        return self.price - HALF_SPREAD

    @property
    def ask(self) -> Decimal:
        return self.price + HALF_SPREAD


@dataclass
class SimOrder:
    order_id: int
    strategy: str  # SINGLE / TRIGGER / OCO
    entered: datetime
    spec: dict[str, Any]  # as posted, for the fields we echo back
    symbol: str = ""
    instruction: str = ""
    qty: Decimal = Decimal(0)
    order_type: str = ""
    price: Decimal | None = None
    stop_price: Decimal | None = None
    status: str = "WORKING"
    filled: Decimal = Decimal(0)
    triggered: bool = False  # a stop whose stop price was reached
    description: str = ""
    close_time: datetime | None = None
    children: list[SimOrder] = field(default_factory=list)
    parent: SimOrder | None = None
    activities: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def buy(self) -> bool:
        return self.instruction in BUYS


@dataclass
class Account:
    number: str
    hash_value: str
    cash: Decimal
    positions: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # symbol → (qty, avg price)


class Book:
    def __init__(self, account: Account, now: Callable[[], datetime]) -> None:
        self.account = account
        self.now = now  # the simulator's clock
        # Whether this fill is reported twice (the simulator wires its `duplicate_fill` fault here).
        self.duplicate: Callable[[SimOrder], bool] = lambda order: False
        self.listings = {
            symbol: Listing(symbol, Decimal(p), Decimal(p), cusip, desc, exchange, instrument_id=index + 1000)
            for index, (symbol, (p, cusip, desc, exchange)) in enumerate(UNIVERSE.items())
        }
        self.orders: dict[int, SimOrder] = {}  # every order and child, by id
        self.top: list[SimOrder] = []  # what `GET .../orders` lists
        self.commission = Decimal("0.00")  # per order; Schwab's online equity trades are commission-free
        self._ids = itertools.count(1_000_100_000)
        self._activity_ids = itertools.count(45_000_000_000)

    # -- entry --------------------------------------------------------------------------------

    def place(self, spec: dict[str, Any]) -> SimOrder:
        """Validate and enter an order tree; raises OrderRefused (HTTP 400) before anything is stored."""
        order = self._build(spec, parent=None)
        self._check_entry(order)
        self._register(order)
        self.top.append(order)
        self._activate(order)
        return order

    def _build(self, spec: dict[str, Any], parent: SimOrder | None) -> SimOrder:
        strategy = spec.get("orderStrategyType", "SINGLE")
        order = SimOrder(next(self._ids), strategy, self.now(), spec, parent=parent)
        if strategy != "OCO":
            self._read_leg(order, spec)
        order.children = [self._build(child, order) for child in spec.get("childOrderStrategies") or []]
        if strategy == "OCO" and len(order.children) != 2:
            raise OrderRefused("An OCO order needs exactly two child orders.")
        if strategy == "TRIGGER" and not order.children:
            raise OrderRefused("A TRIGGER order needs a child order strategy.")
        return order

    def _read_leg(self, order: SimOrder, spec: dict[str, Any]) -> None:
        legs = spec.get("orderLegCollection") or []
        if len(legs) != 1:
            raise OrderRefused("Exactly one order leg is supported for equity orders.")
        leg = legs[0]
        order.symbol = str((leg.get("instrument") or {}).get("symbol", ""))
        order.instruction = str(leg.get("instruction", ""))
        order.qty = Decimal(str(leg.get("quantity", 0)))
        order.order_type = str(spec.get("orderType", ""))
        order.price = _decimal(spec.get("price"))
        order.stop_price = _decimal(spec.get("stopPrice"))
        if order.symbol not in self.listings:
            raise OrderRefused(f"Symbol {order.symbol!r} is not valid or not tradable.")
        if order.qty <= 0 or order.qty != order.qty.to_integral_value():
            raise OrderRefused("Quantity must be a positive whole number of shares.")
        if order.instruction not in {"BUY", "SELL", "BUY_TO_COVER", "SELL_SHORT"}:
            raise OrderRefused(f"Instruction {order.instruction!r} is not valid for an equity.")
        needs = {"MARKET": (False, False), "LIMIT": (True, False), "STOP": (False, True), "STOP_LIMIT": (True, True)}
        if order.order_type not in needs:
            raise OrderRefused(f"Order type {order.order_type!r} is not supported.")
        wants_price, wants_stop = needs[order.order_type]
        if wants_price != (order.price is not None) or wants_stop != (order.stop_price is not None):
            raise OrderRefused(f"A {order.order_type} order has the wrong price fields.")

    def _check_entry(self, order: SimOrder) -> None:
        if order.buy and order.strategy != "OCO":
            listing = self.listings[order.symbol]
            cost = order.qty * (order.price or order.stop_price or listing.ask) + self.commission
            if cost > self.buying_power():
                raise OrderRefused(
                    "The order cannot be placed: your buying power is insufficient for this order "
                    f"(requires {money(cost)}, available {money(self.buying_power())})."
                )

    def _register(self, order: SimOrder) -> None:
        self.orders[order.order_id] = order
        for child in order.children:
            self._register(child)

    def _activate(self, order: SimOrder) -> None:
        """A live order starts working (and may fill at once); children wait for their parent."""
        if order.strategy == "OCO":
            order.status = "WORKING"
            for child in order.children:
                self._activate(child)
            return
        order.status = "WORKING"
        for child in order.children:
            self._hold(child)
        self._work(order, arrival=True)

    def _hold(self, order: SimOrder) -> None:
        order.status = "AWAITING_PARENT_ORDER"
        for child in order.children:
            self._hold(child)

    # -- matching -----------------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal) -> None:
        self.listings[symbol].price = price
        for order in [o for o in self.orders.values() if o.status == "WORKING" and o.symbol == symbol]:
            if order.status == "WORKING":  # an OCO sibling may have been canceled meanwhile
                self._work(order, arrival=False)

    def _work(self, order: SimOrder, *, arrival: bool) -> None:
        listing = self.listings[order.symbol]
        touch = listing.ask if order.buy else listing.bid
        if order.order_type in ("STOP", "STOP_LIMIT") and not order.triggered:
            crossed = listing.price >= order.stop_price if order.buy else listing.price <= order.stop_price
            if not crossed:
                return self._expire_unfilled(order, arrival)
            order.triggered = True
        if order.order_type in ("MARKET", "STOP"):
            return self.execute(order, order.qty - order.filled, touch)
        marketable = touch <= order.price if order.buy else touch >= order.price
        if marketable:
            return self.execute(order, order.qty - order.filled, min(touch, order.price) if order.buy else touch)
        return self._expire_unfilled(order, arrival)

    def _expire_unfilled(self, order: SimOrder, arrival: bool) -> None:
        if arrival and order.spec.get("duration") in ("IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"):
            self._close(order, "CANCELED")

    def execute(self, order: SimOrder, qty: Decimal, price: Decimal) -> None:
        """Fill `qty` of `order` at `price`: cash, position, the execution report, then what it triggers."""
        problem = self._fill_problem(order, qty, price)
        if problem:
            order.description = problem
            return self._close(order, "REJECTED")
        self._settle(order, qty, price)
        order.filled += qty
        activity = self._activity(order, qty, price)
        order.activities.append(activity)
        if self.duplicate(order):  # the same execution reported twice
            order.activities.append(dict(activity))
        if order.filled >= order.qty:
            self._close(order, "FILLED")
            self._filled(order)

    def _fill_problem(self, order: SimOrder, qty: Decimal, price: Decimal) -> str:
        held = self.account.positions.get(order.symbol, (Decimal(0), Decimal(0)))[0]
        if order.buy and qty * price + self.commission > self.account.cash:
            return "Rejected: insufficient buying power at execution."
        if order.instruction == "SELL" and qty > held:
            return "Rejected: the sell quantity exceeds the shares held in this account."
        return ""

    def _settle(self, order: SimOrder, qty: Decimal, price: Decimal) -> None:
        qty_held, avg = self.account.positions.get(order.symbol, (Decimal(0), Decimal(0)))
        signed = qty if order.buy else -qty
        notional = qty * price
        self.account.cash -= money(notional if order.buy else -notional) + self.fees(buy=order.buy, notional=notional)
        new_qty = qty_held + signed
        if new_qty == 0:
            self.account.positions.pop(order.symbol, None)
        elif order.buy and qty_held >= 0:
            self.account.positions[order.symbol] = (new_qty, (qty_held * avg + notional) / new_qty)
        else:
            self.account.positions[order.symbol] = (new_qty, avg if new_qty * qty_held > 0 else price)

    def fees(self, *, buy: bool, notional: Decimal) -> Decimal:
        """The commission per order, plus the SEC fee on sales (rounded up to the cent)."""
        sec = Decimal(0) if buy else (notional * SEC_FEE_RATE).quantize(CENT, rounding=ROUND_UP)
        return self.commission + sec

    def _activity(self, order: SimOrder, qty: Decimal, price: Decimal) -> dict[str, Any]:
        return {
            "activityType": "EXECUTION",
            "activityId": next(self._activity_ids),
            "executionType": "FILL",
            "quantity": qty,
            "orderRemainingQuantity": order.qty - order.filled,
            "executionLegs": [
                {
                    "legId": 1,
                    "price": price,
                    "quantity": qty,
                    "mismarkedQuantity": 0,
                    "instrumentId": self.listings[order.symbol].instrument_id,
                    "time": iso(self.now()),
                }
            ],
        }

    def _filled(self, order: SimOrder) -> None:
        """A TRIGGER's children go live; an OCO sibling is canceled."""
        for child in order.children:
            self._activate(child)
        parent = order.parent
        if parent is not None and parent.strategy == "OCO":
            for sibling in parent.children:
                if sibling is not order and sibling.is_open:
                    self._close(sibling, "CANCELED")
            self._close(parent, "FILLED")

    def _close(self, order: SimOrder, status: str) -> None:
        order.status = status
        order.close_time = self.now()
        if status != "FILLED":
            for child in order.children:  # legs that can never go live
                if child.is_open:
                    self._close(child, "CANCELED")

    def cancel(self, order: SimOrder) -> None:
        """Cancel an open order with its pending children; raises OrderRefused when it is closed."""
        if not order.is_open:
            raise OrderRefused(f"Order {order.order_id} cannot be canceled in status {order.status}.")
        self._close(order, "CANCELED")
        parent = order.parent
        if parent is not None and parent.strategy == "OCO":  # canceling one leg cancels the pair
            for sibling in parent.children:
                if sibling.is_open:
                    self._close(sibling, "CANCELED")
            self._close(parent, "CANCELED")

    # -- views --------------------------------------------------------------------------------

    def buying_power(self) -> Decimal:
        """A cash account: cash not already committed to open buys."""
        committed = sum(
            (
                (o.qty - o.filled) * (o.price or o.stop_price or self.listings[o.symbol].ask)
                for o in self.orders.values()
                if o.buy and o.status == "WORKING"
            ),
            Decimal(0),
        )
        return money(self.account.cash - committed)

    def market_value(self) -> Decimal:
        return sum(
            (qty * self.listings[symbol].price for symbol, (qty, _) in self.account.positions.items()),
            Decimal(0),
        )


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))
