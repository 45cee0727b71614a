"""The simulated Kraken account: balances, orders, trades, and the market that fills them.

Market orders fill at once at the ask (buys) or bid (sells), the last price ± one tick. Resting
limits fill at their limit when the last price reaches them; stop-loss and take-profit orders
trigger on the last price (Kraken's default `trigger=last`) and then fill as market or, for the
-limit types, become a limit at `price2`. A filled order with a conditional close (`close[...]`)
spawns that close as a new order for the filled volume (`refid` = the parent).
Funds are held for open orders (`hold_trade` in BalanceEx) and checked at placement.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from tests.simulators.base import Faults
from tests.simulators.kraken.auth import KrakenError
from tests.simulators.kraken.catalog import MAKER_PCT, PAIRS, TAKER_PCT, Pair, fixed
from tests.simulators.kraken.orders import ZERO, Order, Trade, kraken_id

HUNDRED = Decimal(100)


@dataclass
class Market:
    last: Decimal
    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal = Decimal("1234.5")

    def move(self, price: Decimal) -> None:
        self.last, self.high, self.low = price, max(self.high, price), min(self.low, price)


class Book:
    def __init__(self, faults: Faults, clock: Callable[[], float] = time.time) -> None:
        self.faults = faults
        self.clock = clock
        self.balances: dict[str, Decimal] = {"ZUSD": Decimal("100000.0000")}
        self.orders: dict[str, Order] = {}
        self.trades: dict[str, Trade] = {}
        self.markets = {pair.id: Market(pair.price, pair.price, pair.price, pair.price) for pair in PAIRS}
        self._trade_ids = itertools.count(93748276)

    # -- prices ------------------------------------------------------------------------------

    def bid(self, pair: Pair) -> Decimal:
        return self.markets[pair.id].last - pair.tick_size

    def ask(self, pair: Pair) -> Decimal:
        return self.markets[pair.id].last + pair.tick_size

    def set_price(self, pair: Pair, price: Decimal) -> None:
        self.markets[pair.id].move(price)
        for order in [o for o in self.orders.values() if o.pair == pair and o.is_open]:
            self.work(order)

    # -- funds -------------------------------------------------------------------------------

    def hold(self, asset: str) -> Decimal:
        """What open orders hold of `asset`: buys their quote cost, sells their base volume."""
        held = ZERO
        for order in (o for o in self.orders.values() if o.is_open):
            if order.side == "buy" and order.pair.quote == asset:
                held += order.remaining * self.reference_price(order)
            elif order.side == "sell" and order.pair.base == asset:
                held += order.remaining
        return held

    def available(self, asset: str) -> Decimal:
        return self.balances.get(asset, ZERO) - self.hold(asset)

    def reference_price(self, order: Order) -> Decimal:
        if order.ordertype.endswith("-limit"):
            return order.price2 or ZERO
        if order.ordertype == "market":
            return self.ask(order.pair)
        return order.price or ZERO

    def check_funds(self, order: Order) -> None:
        if order.side == "buy":
            need = order.vol * self.reference_price(order) * (1 + TAKER_PCT / HUNDRED)
            enough = self.available(order.pair.quote) >= need
        else:
            enough = self.available(order.pair.base) >= order.vol
        if not enough:
            raise KrakenError("EOrder:Insufficient funds")

    # -- orders ------------------------------------------------------------------------------

    def add(self, order: Order) -> Order:
        self.check_funds(order)
        self.orders[order.txid] = order
        self.work(order, placing=True)
        if order.is_open and order.timeinforce == "IOC":
            self.close_order(order, "canceled", "Immediate or cancel")
        return order

    def cancel(self, order: Order) -> None:
        self.close_order(order, "canceled", "User requested")

    def close_order(self, order: Order, status: str, reason: str | None) -> None:
        order.status, order.reason, order.closetm = status, reason, self.clock()

    def work(self, order: Order, *, placing: bool = False) -> None:
        """Trigger and fill `order` if the market allows it now."""
        if not order.is_open:
            return
        last = self.markets[order.pair.id].last
        if order.ordertype == "market":
            self.execute(order, order.remaining, self.touch(order), maker=False)
        elif order.ordertype == "limit" or order.triggered:
            self._work_limit(order, last, placing=placing)
        elif _triggers(order, last):
            order.triggered = True
            if not order.ordertype.endswith("-limit"):
                self.execute(order, order.remaining, self.touch(order), maker=False)
            else:
                self._work_limit(order, last, placing=True)

    def _work_limit(self, order: Order, last: Decimal, *, placing: bool) -> None:
        limit = order.price2 if order.triggered else order.price
        assert limit is not None
        touch = self.touch(order)
        if placing and (touch <= limit if order.side == "buy" else touch >= limit):
            self.execute(order, order.remaining, touch, maker=False)  # marketable: takes the book
        elif not placing and (last <= limit if order.side == "buy" else last >= limit):
            self.execute(order, order.remaining, limit, maker=True)

    def touch(self, order: Order) -> Decimal:
        return self.ask(order.pair) if order.side == "buy" else self.bid(order.pair)

    def execute(self, order: Order, vol: Decimal, price: Decimal, *, maker: bool) -> Trade:
        """One fill of `vol` at `price`: balances, the order's totals, a trade, maybe its close."""
        pair = order.pair
        cost = vol * price
        fee = Decimal(fixed(cost * (MAKER_PCT if maker else TAKER_PCT) / HUNDRED, pair.cost_decimals))
        sign = 1 if order.side == "buy" else -1
        self.balances[pair.base] = self.balances.get(pair.base, ZERO) + sign * vol
        self.balances[pair.quote] = self.balances.get(pair.quote, ZERO) - sign * cost - fee
        trade = Trade(kraken_id("T"), order, vol, price, cost, fee, self.clock(), maker, next(self._trade_ids))
        self.trades[trade.txid] = trade
        order.vol_exec += vol
        order.cost += cost
        order.fee += fee
        order.trades.append(trade.txid)
        if self.faults.take(f"fill {order.txid}", ("duplicate_fill",)):
            order.trades.append(trade.txid)  # the same execution reported twice
        self.markets[pair.id].volume += vol
        if order.remaining <= 0:
            self.close_order(order, "closed", None)
            self._spawn_close(order)
        return trade

    def _spawn_close(self, parent: Order) -> None:
        if not parent.close:
            return
        close = parent.close
        child = Order(
            txid=kraken_id("O"),
            key=parent.key,
            pair=parent.pair,
            side="sell" if parent.side == "buy" else "buy",
            ordertype=close["ordertype"],
            vol=parent.vol_exec,
            price=Decimal(close["price"]) if close.get("price") else None,
            price2=Decimal(close["price2"]) if close.get("price2") else None,
            opentm=self.clock(),
            refid=parent.txid,
        )
        self.orders[child.txid] = child
        self.work(child, placing=True)

    # -- controls ----------------------------------------------------------------------------

    def fill(self, order: Order, qty: Decimal | None = None, price: Decimal | None = None) -> Trade:
        """Fill a resting order now (all of it, or `qty`), at `price`, its limit, or the market."""
        if not order.is_open:
            raise ValueError(f"order {order.txid} is {order.status}")
        limit = order.price2 if order.ordertype.endswith("-limit") else order.price
        at = price or (limit if order.ordertype in ("limit", "stop-loss-limit", "take-profit-limit") else None)
        order.triggered = order.triggered or order.ordertype != "limit"
        return self.execute(order, qty or order.remaining, at or self.touch(order), maker=at is not None)


def _triggers(order: Order, last: Decimal) -> bool:
    """Stop-loss fires when the price moves against the side; take-profit when it moves for it."""
    stop = order.price or ZERO
    rising = last >= stop
    falling = last <= stop
    if order.ordertype.startswith("stop-loss"):
        return rising if order.side == "buy" else falling
    return falling if order.side == "buy" else rising
