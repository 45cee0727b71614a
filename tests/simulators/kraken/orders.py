"""One Kraken order and one trade, and how Kraken prints them.

Order info: https://docs.kraken.com/api-reference/account-data/get-open-orders (the same object in
ClosedOrders and QueryOrders). Trade info: https://docs.kraken.com/api-reference/account-data/get-trade-history.
`descr.order` is Kraken's human-readable sentence ("buy 1.25000000 XBTUSD @ limit 27500.0").
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.simulators.kraken.catalog import Pair, fixed

OPEN = ("pending", "open")
CLOSED = ("closed", "canceled", "expired")
ORDER_TYPES = ("market", "limit", "stop-loss", "stop-loss-limit", "take-profit", "take-profit-limit")
CLOSE_TYPES = ORDER_TYPES[1:]
ZERO = Decimal(0)
_ALPHABET = string.ascii_uppercase + string.digits


def kraken_id(prefix: str) -> str:
    """An id shaped like Kraken's: OQCLML-BW3P3-BUCMWZ (orders), THVRQM-33VKH-UCI7BS (trades)."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return f"{prefix}{chars[:5]}-{chars[5:10]}-{chars[10:]}"


def sentence(ordertype: str, price: Decimal | None, price2: Decimal | None, pair: Pair) -> str:
    """The part after '@': "limit 27500.0", "stop loss 26000.0 -> limit 25900.0", "market"."""
    if ordertype == "market":
        return "market"
    if ordertype == "limit":
        return f"limit {pair.px(price or ZERO)}"
    words = ordertype.removesuffix("-limit").replace("-", " ")
    text = f"{words} {pair.px(price or ZERO)}"
    return f"{text} -> limit {pair.px(price2 or ZERO)}" if ordertype.endswith("-limit") else text


@dataclass
class Order:
    txid: str
    key: str  # the API key that placed it
    pair: Pair
    side: str
    ordertype: str
    vol: Decimal
    price: Decimal | None  # limit price, or trigger price of the stop/take-profit types
    price2: Decimal | None  # limit price of the *-limit types
    opentm: float
    cl_ord_id: str | None = None
    userref: int | None = None
    timeinforce: str = "GTC"
    close: dict[str, str] = field(default_factory=dict)  # ordertype, price, price2
    refid: str | None = None  # the order whose conditional close this is
    status: str = "open"
    vol_exec: Decimal = ZERO
    cost: Decimal = ZERO
    fee: Decimal = ZERO
    trades: list[str] = field(default_factory=list)
    closetm: float | None = None
    reason: str | None = None
    triggered: bool = False

    @property
    def remaining(self) -> Decimal:
        return self.vol - self.vol_exec

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def descr_order(self) -> str:
        volume = fixed(self.vol, self.pair.lot_decimals)
        how = sentence(self.ordertype, self.price, self.price2, self.pair)
        return f"{self.side} {volume} {self.pair.altname} @ {how}"

    def descr_close(self) -> str:
        if not self.close:
            return ""
        price, price2 = (Decimal(v) if v else None for v in (self.close.get("price"), self.close.get("price2")))
        return f"close position @ {sentence(self.close['ordertype'], price, price2, self.pair)}"

    def descr(self) -> dict[str, Any]:
        return {
            "pair": self.pair.altname,
            "type": self.side,
            "ordertype": self.ordertype,
            "price": self.pair.px(self.price) if self.price is not None else "0",
            "price2": self.pair.px(self.price2) if self.price2 is not None else "0",
            "leverage": "none",
            "order": self.descr_order(),
            "close": self.descr_close(),
        }

    def body(self, *, with_trades: bool) -> dict[str, Any]:
        """The order info object as OpenOrders/ClosedOrders/QueryOrders return it."""
        pair, places = self.pair, self.pair.cost_decimals
        body: dict[str, Any] = {
            "refid": self.refid,
            "userref": self.userref,
            "status": self.status,
            "opentm": self.opentm,
            "starttm": 0,
            "expiretm": 0,
            "descr": self.descr(),
            "vol": fixed(self.vol, pair.lot_decimals),
            "vol_exec": fixed(self.vol_exec, pair.lot_decimals),
            "cost": fixed(self.cost, places),
            "fee": fixed(self.fee, places),
            "price": pair.px(self.cost / self.vol_exec) if self.vol_exec else pair.px(ZERO),
            "stopprice": pair.px(self.price or ZERO) if self.triggered else pair.px(ZERO),
            "limitprice": pair.px(self.price2 or ZERO) if self.triggered else pair.px(ZERO),
            "misc": "",
            "oflags": "fciq",
        }
        if self.cl_ord_id is not None:
            body["cl_ord_id"] = self.cl_ord_id
        if with_trades and self.trades:
            body["trades"] = list(self.trades)
        if not self.is_open:
            body.update(closetm=self.closetm, reason=self.reason)
        return body


@dataclass(frozen=True)
class Trade:
    txid: str
    order: Order
    vol: Decimal
    price: Decimal
    cost: Decimal
    fee: Decimal
    time: float
    maker: bool
    trade_id: int

    def body(self) -> dict[str, Any]:
        pair, places = self.order.pair, self.order.pair.cost_decimals
        return {
            "ordertxid": self.order.txid,
            "postxid": kraken_id("T"),
            "pair": pair.id,
            "time": self.time,
            "type": self.order.side,
            "ordertype": self.order.ordertype,
            "price": pair.px(self.price),
            "cost": fixed(self.cost, places),
            "fee": fixed(self.fee, places),
            "vol": fixed(self.vol, pair.lot_decimals),
            "margin": fixed(ZERO, places),
            "leverage": "0",
            "misc": "",
            "trade_id": self.trade_id,
            "maker": self.maker,
        }
