"""The Alpaca simulator's account: assets and prices, cash, positions, orders and their matching.

Pure bookkeeping, no HTTP: `routes.py` turns requests into calls here and `shapes.py` renders
the results as Alpaca's JSON. Refusals are `Refusal(status, body)` with Alpaca's own codes
(https://docs.alpaca.markets/reference/postorder and the error bodies its API returns).

A cash account: buys are limited by buying power (cash minus what open buy orders reserve),
sells by the position not already held for other sell orders; equities trade commission-free.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")
SUB_PENNY = Decimal("0.0001")
# Alpaca counts these as open (`status=open`); `held` legs are listed only under their parent.
OPEN = frozenset({"new", "accepted", "pending_new", "partially_filled", "accepted_for_bidding", "pending_cancel"})
WORKING = OPEN | {"held"}


class Refusal(Exception):  # Alpaca's answer, not our failure
    def __init__(self, status: int, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"code": code, "message": message, **extra}


def now() -> datetime:
    return datetime.now(UTC)


def tick(price: Decimal) -> Decimal:
    """Reg NMS sub-penny rule, as Alpaca applies it: cents from $1.00 up, 1/100 cent below."""
    return CENT if price >= 1 else SUB_PENNY


@dataclass
class Asset:
    symbol: str
    name: str
    exchange: str
    price: Decimal
    prev_close: Decimal
    fractionable: bool = True
    shortable: bool = True
    tradable: bool = True
    status: str = "active"
    volume: Decimal = Decimal(1_000_000)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def bid(self) -> Decimal:
        return self.price - tick(self.price)

    @property
    def ask(self) -> Decimal:
        return self.price + tick(self.price)


@dataclass
class Lot:
    qty: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)


@dataclass
class SimOrder:
    symbol: str
    asset_id: str
    side: str
    type: str
    qty: Decimal
    time_in_force: str
    client_order_id: str
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    order_class: str = "simple"
    status: str = "accepted"
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    triggered: bool = False
    parent: SimOrder | None = None
    legs: list[SimOrder] = field(default_factory=list)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    filled_at: datetime | None = None
    canceled_at: datetime | None = None

    @property
    def working(self) -> bool:
        return self.status in WORKING

    def touch(self, status: str) -> None:
        self.status, self.updated_at = status, now()


DEFAULT_ASSETS = (
    Asset("AAPL", "Apple Inc. Common Stock", "NASDAQ", Decimal("187.25"), Decimal("185.00")),
    Asset("MSFT", "Microsoft Corporation Common Stock", "NASDAQ", Decimal("402.10"), Decimal("405.50")),
    Asset("SPY", "SPDR S&P 500 ETF Trust", "ARCA", Decimal("512.40"), Decimal("510.00")),
    Asset("ZOM", "Zomedica Corp. Common Shares", "AMEX", Decimal("0.1432"), Decimal("0.1400"), fractionable=False),
    Asset("GME", "GameStop Corp. Class A", "NYSE", Decimal("24.50"), Decimal("25.00"), shortable=False),
    Asset("OLDCO", "Delisted Co.", "OTC", Decimal("3.00"), Decimal("3.00"), tradable=False, status="inactive"),
)


class Book:
    """One Alpaca account. Callers hold the simulator's lock."""

    def __init__(self, cash: Decimal) -> None:
        self.account_id = str(uuid.uuid4())
        self.account_number = "PA" + uuid.uuid4().hex[:10].upper()
        self.created_at = now()
        self.cash = cash
        self.last_equity = cash
        self.assets = {a.symbol: replace(a, id=str(uuid.uuid4())) for a in DEFAULT_ASSETS}
        self.positions: dict[str, Lot] = {}
        self.orders: dict[str, SimOrder] = {}  # every order, legs included, by id
        self.client_ids: dict[str, str] = {}  # client_order_id → order id
        self.fills: list[dict[str, Any]] = []  # account activities of type FILL
        self.duplicate_fill: Callable[[], bool] = lambda: False  # the simulator's duplicate_fill fault

    # -- queries ---------------------------------------------------------------------------

    def asset(self, symbol: str) -> Asset:
        found = self.assets.get(symbol.upper())
        if found is None:
            raise Refusal(404, 40410000, f"asset not found for {symbol}")
        return found

    def reserved(self) -> Decimal:
        """What open buy orders hold back from buying power (limit, stop or the ask now)."""
        return sum((self._cost(o) for o in self.orders.values() if o.working and o.side == "buy"), Decimal(0))

    def buying_power(self) -> Decimal:
        return self.cash - self.reserved()

    def market_value(self) -> Decimal:
        return sum((lot.qty * self.assets[s].price for s, lot in self.positions.items()), Decimal(0))

    def equity(self) -> Decimal:
        return self.cash + self.market_value()

    def held_for_sells(self, symbol: str, *, excluding: SimOrder | None = None) -> Decimal:
        orders = self.orders.values()
        return sum(
            (
                o.qty - o.filled_qty
                for o in orders
                if o.working and o.side == "sell" and o.symbol == symbol and o.parent is None and o is not excluding
            ),
            Decimal(0),
        )

    def by_client_id(self, client_order_id: str) -> SimOrder:
        order_id = self.client_ids.get(client_order_id)
        if order_id is None:
            raise Refusal(404, 40410000, "order not found")
        return self.orders[order_id]

    def order(self, order_id: str) -> SimOrder:
        found = self.orders.get(order_id)
        if found is None:
            raise Refusal(404, 40410000, "order not found")
        return found

    # -- placing ---------------------------------------------------------------------------

    def place(self, order: SimOrder) -> SimOrder:
        """Check and store a new order (and its legs); matching is `work`'s job."""
        if order.client_order_id in self.client_ids:
            raise Refusal(422, 40010001, "client_order_id must be unique")
        self._check_funds(order)
        for placed in (order, *order.legs):
            self.orders[placed.id] = placed
            self.client_ids[placed.client_order_id] = placed.id
        return order

    def _cost(self, order: SimOrder) -> Decimal:
        price = order.limit_price or order.stop_price or self.assets[order.symbol].ask
        return (order.qty - order.filled_qty) * price

    def _check_funds(self, order: SimOrder) -> None:
        if order.side == "buy":
            cost, power = self._cost(order), self.buying_power()
            if cost > power:
                raise Refusal(403, 40310000, "insufficient buying power", buying_power=power, cost_basis=cost)
            return
        available = self.positions.get(order.symbol, Lot()).qty - self.held_for_sells(order.symbol)
        if order.qty > available:
            raise Refusal(
                403,
                40310000,
                f"insufficient qty available for order (requested: {order.qty}, available: {max(available, 0)})",
                available=max(available, Decimal(0)),
                symbol=order.symbol,
            )

    # -- matching --------------------------------------------------------------------------

    def work(self, order: SimOrder) -> None:
        """Fill `order` if the market allows it now; ioc/fok orders that cannot fill are canceled."""
        if not order.working or (order.parent is not None and order.parent.status != "filled"):
            return
        price = self._execution_price(order)
        if price is not None:
            self._fill(order, price)
        elif order.time_in_force in ("ioc", "fok") and order.parent is None:
            self.cancel(order)

    def work_all(self) -> None:
        for order in list(self.orders.values()):
            self.work(order)

    def _execution_price(self, order: SimOrder) -> Decimal | None:
        asset = self.assets[order.symbol]
        buy = order.side == "buy"
        if order.stop_price is not None and not order.triggered:
            order.triggered = asset.price >= order.stop_price if buy else asset.price <= order.stop_price
            if not order.triggered:
                return None
        touch = asset.ask if buy else asset.bid
        if order.limit_price is None:
            return touch
        if buy:
            return min(order.limit_price, touch) if asset.price <= order.limit_price else None
        return max(order.limit_price, touch) if asset.price >= order.limit_price else None

    def force_fill(self, order: SimOrder) -> None:
        """The harness's `fill`: execute a working order now, at its limit or the market."""
        asset = self.assets[order.symbol]
        self._fill(order, order.limit_price or (asset.ask if order.side == "buy" else asset.bid))

    def _fill(self, order: SimOrder, price: Decimal) -> None:
        qty = order.qty - order.filled_qty
        self._move(order.symbol, qty if order.side == "buy" else -qty, price)
        order.filled_avg_price = price
        order.filled_qty = order.qty
        order.filled_at = now()
        order.touch("filled")
        self._record_fill(order, qty, price)
        if order.legs:  # a bracket's entry filled: its take-profit works, its stop waits (held)
            for leg in order.legs:
                leg.touch("new" if leg.type == "limit" else "held")
        if order.parent is not None:  # one exit filled: the other is canceled
            for sibling in order.parent.legs:
                if sibling is not order and sibling.working:
                    self._canceled(sibling)

    def _move(self, symbol: str, qty: Decimal, price: Decimal) -> None:
        lot = self.positions.setdefault(symbol, Lot())
        self.cash -= qty * price
        new_qty = lot.qty + qty
        if lot.qty == 0 or (lot.qty > 0) == (qty > 0):  # opening or adding: average in
            lot.avg_price = (lot.qty * lot.avg_price + qty * price) / new_qty
        elif new_qty != 0 and (new_qty > 0) != (lot.qty > 0):  # crossed through zero
            lot.avg_price = price
        lot.qty = new_qty
        if lot.qty == 0:
            del self.positions[symbol]

    def _record_fill(self, order: SimOrder, qty: Decimal, price: Decimal) -> None:
        activity = {
            "id": f"{now():%Y%m%d%H%M%S%f}::{uuid.uuid4()}",
            "activity_type": "FILL",
            "transaction_time": now().isoformat().replace("+00:00", "Z"),
            "type": "fill",
            "price": price,
            "qty": qty,
            "side": order.side,
            "symbol": order.symbol,
            "leaves_qty": Decimal(0),
            "order_id": order.id,
            "cum_qty": order.filled_qty,
            "order_status": "filled",
        }
        self.fills.append(activity)
        if self.duplicate_fill():  # reported twice, same activity id: never executed twice
            self.fills.append(dict(activity))

    # -- canceling -------------------------------------------------------------------------

    def cancel(self, order: SimOrder) -> None:
        if not order.working:
            raise Refusal(422, 42210000, f'order is already in "{order.status}" state')
        self._canceled(order)
        for related in (*order.legs, *(order.parent.legs if order.parent else ())):
            if related.working:
                self._canceled(related)

    def _canceled(self, order: SimOrder) -> None:
        order.canceled_at = now()
        order.touch("canceled")
