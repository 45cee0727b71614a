"""The simulated brokerage behind OpenD: accounts, orders, fills and fees, kept consistent.

Order types as `Trd_Common.OrderType` numbers (Normal = limit 1, Market 2, Stop 10, StopLimit 11),
statuses as `Trd_Common.OrderStatus` (Submitted 5, Filled_Part 10, Filled_All 11, Cancelled_Part 14,
Cancelled_All 15). Resting orders fill when the price crosses them. Fees follow moomoo's published
schedules (https://www.moomoo.com/us/pricing, https://www.moomoo.com/hk/support/topic3_417):
US stocks are commission-free with regulatory fees on sells; HK stocks pay commission, a platform
fee per order and the stamp duty.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from tests.simulators.opend.market import Listing, MarketInfo

LIMIT, MARKET, STOP, STOP_LIMIT = 1, 2, 10, 11
BUY, SELL = 1, 2
SUBMITTED, FILLED_PART, FILLED_ALL, CANCELLED_PART, CANCELLED_ALL = 5, 10, 11, 14, 15
OPEN = frozenset({SUBMITTED, FILLED_PART})
CENT = Decimal("0.01")
REAL, SIMULATE = 1, 0


class Refused(Exception):
    """OpenD refuses the request: retType -1 with this message."""


@dataclass
class Holding:
    qty: Decimal
    cost: Decimal  # average cost per share


@dataclass
class Account:
    acc_id: int
    env: int  # Trd_Common.TrdEnv: 1 real, 0 simulate
    market: MarketInfo
    cash: Decimal
    card_num: str
    holdings: dict[str, Holding] = field(default_factory=dict)


@dataclass
class Fill:
    fill_id: int
    fill_id_ex: str
    qty: Decimal
    price: Decimal
    at: datetime


@dataclass
class Order:
    order_id: int
    order_id_ex: str
    account: Account
    listing: Listing
    side: int
    order_type: int
    qty: Decimal
    price: Decimal  # limit price (0 for market/stop)
    aux_price: Decimal | None
    time_in_force: int
    remark: str
    created: datetime
    updated: datetime
    status: int = SUBMITTED
    triggered: bool = False
    fills: list[Fill] = field(default_factory=list)
    fee_items: dict[str, Decimal] = field(default_factory=dict)
    today: bool = True

    @property
    def filled_qty(self) -> Decimal:
        return sum((f.qty for f in self.fills), Decimal(0))

    @property
    def avg_price(self) -> Decimal:
        qty = self.filled_qty
        return sum((f.qty * f.price for f in self.fills), Decimal(0)) / qty if qty else Decimal(0)

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def fee(self) -> Decimal:
        return sum(self.fee_items.values(), Decimal(0))


class Ids:
    """OpenD's identifiers: numeric orderID/fillID and the string orderIDEx/fillIDEx the API uses."""

    def __init__(self) -> None:
        self._orders = itertools.count(4_210_000_001)
        self._fills = itertools.count(8_830_000_001)

    def order(self, day: str) -> tuple[int, str]:
        number = next(self._orders)
        return number, f"FT{day}{number % 10**8:08d}"

    def fill(self, day: str) -> tuple[int, str]:
        number = next(self._fills)
        return number, f"FD{day}{number % 10**8:08d}"


def execution_price(order: Order, market_price: Decimal) -> Decimal | None:
    """The price `order` fills at now, or None if it rests (stops trigger first)."""
    buy = order.side == BUY
    if order.order_type in (STOP, STOP_LIMIT) and not order.triggered:
        assert order.aux_price is not None
        if (buy and market_price < order.aux_price) or (not buy and market_price > order.aux_price):
            return None
        order.triggered = True
    if order.order_type in (MARKET, STOP):
        return market_price
    marketable = market_price <= order.price if buy else market_price >= order.price
    return market_price if marketable else None


def reserved_cash(account: Account, orders: list[Order]) -> Decimal:
    """Cash held back for open buy orders (OpenD reports it as frozen cash)."""
    total = Decimal(0)
    for order in orders:
        if order.account is account and order.is_open and order.side == BUY:
            price = order.price or order.aux_price or order.listing.price
            total += order.remaining * price
    return total


def reserved_qty(account: Account, orders: list[Order], code: str) -> Decimal:
    return sum(
        (
            o.remaining
            for o in orders
            if o.account is account and o.is_open and o.side == SELL and o.listing.code == code
        ),
        Decimal(0),
    )


def check_affordable(order: Order, orders: list[Order]) -> None:
    account = order.account
    if order.side == BUY:
        price = order.price or order.aux_price or order.listing.price
        power = account.cash - reserved_cash(account, orders)
        if order.qty * price + estimated_fee(order, price) > power:
            raise Refused("Insufficient buying power")
        return
    held = account.holdings.get(order.listing.code)
    sellable = (held.qty if held else Decimal(0)) - reserved_qty(account, orders, order.listing.code)
    if order.qty > sellable:
        raise Refused("Insufficient sellable quantity")


def apply_fill(order: Order, fill: Fill) -> None:
    """Book a fill: cash, holdings, fees and the order's status."""
    account, code = order.account, order.listing.code
    first = not order.fills
    order.fills.append(fill)
    notional = fill.qty * fill.price
    held = account.holdings.setdefault(code, Holding(Decimal(0), Decimal(0)))
    if order.side == BUY:
        held.cost = (held.qty * held.cost + notional) / (held.qty + fill.qty)
        held.qty += fill.qty
        account.cash -= notional
    else:
        held.qty -= fill.qty
        account.cash += notional
    if held.qty == 0:
        del account.holdings[code]
    fees = fill_fees(order, fill, first=first)
    for title, amount in fees.items():
        order.fee_items[title] = order.fee_items.get(title, Decimal(0)) + amount
    account.cash -= sum(fees.values(), Decimal(0))
    order.status = FILLED_ALL if order.remaining == 0 else FILLED_PART
    order.updated = fill.at


def cancel(order: Order, when: datetime) -> None:
    order.status = CANCELLED_PART if order.fills else CANCELLED_ALL
    order.updated = when


def estimated_fee(order: Order, price: Decimal) -> Decimal:
    probe = Fill(0, "", order.qty, price, order.created)
    return sum(fill_fees(order, probe, first=True).values(), Decimal(0))


def fill_fees(order: Order, fill: Fill, *, first: bool) -> dict[str, Decimal]:
    notional = fill.qty * fill.price
    if order.listing.market.name == "HK":
        fees = {
            "Commission": max(notional * Decimal("0.0003"), Decimal(3)).quantize(CENT, ROUND_HALF_UP),
            "Stamp duty": (notional * Decimal("0.001")).quantize(Decimal(1), ROUND_CEILING),
            "Trading fee": max(notional * Decimal("0.0000565"), CENT).quantize(CENT, ROUND_HALF_UP),
        }
        if first:
            fees["Platform fee"] = Decimal(15)
        return fees
    if order.side == BUY:
        return {}
    return {
        "SEC fee": max(notional * Decimal("0.0000278"), CENT).quantize(CENT, ROUND_HALF_UP),
        "FINRA TAF": min(max(fill.qty * Decimal("0.000166"), CENT), Decimal("8.30")).quantize(CENT, ROUND_HALF_UP),
    }
