"""The simulated Coinbase matching engine: holds, fills and fees over the ledger.

Marketable orders fill at once at the touch (taker fee); resting limits fill at their limit when
the last price crosses them (maker fee); stop-limits trigger on the last price and then behave as
limits; a trigger bracket exits at its limit (take-profit) or, once its stop triggers, at the touch
within 5 % of the trigger (stop-loss). An attached bracket waits (PENDING) until its parent fills,
then works the parent's filled size. Fills are whole: the simulated book has depth at the touch.
"""

from __future__ import annotations

import time
import uuid
from decimal import ROUND_DOWN, Decimal
from typing import Any

from tests.simulators.base import Faults
from tests.simulators.coinbase.ledger import Ledger
from tests.simulators.coinbase.market import Product, usd_value
from tests.simulators.coinbase.orders import (
    BRACKETS,
    IMMEDIATE,
    MARKET,
    STOPS,
    Reject,
    SimOrder,
    check_attached,
    check_price,
    check_size,
    configuration,
    decimal,
    end_time,
    fill_json,
    order_json,
    shape_bracket,
    success,
)

UP, DOWN = "STOP_DIRECTION_STOP_UP", "STOP_DIRECTION_STOP_DOWN"


class Book:
    def __init__(self, *, products: dict[str, Product], ledger: Ledger, faults: Faults) -> None:
        self.products, self.ledger, self.faults = products, ledger, faults
        self.maker, self.taker = Decimal("0.006"), Decimal("0.012")
        self.orders: dict[str, SimOrder] = {}
        self.by_client: dict[str, str] = {}
        self.fills: list[dict[str, Any]] = []

    # -- create ----------------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create Order's answer: the earlier order for a known client_order_id, as Coinbase documents."""
        client_id = str(body.get("client_order_id") or "")
        known = self.orders.get(self.by_client.get(client_id, ""))
        if known is not None:
            return success(known)
        try:
            order = self._build(body, client_id)
            self._hold(order, order.side, order.size)
        except Reject as reject:
            failure = {"success": False, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": ""}
            return {
                **failure,
                "error_response": reject.error_response(),
                "order_configuration": body.get("order_configuration"),
            }
        self.orders[order.order_id] = order
        self.by_client[client_id] = order.order_id
        self._register_attached(order, body.get("attached_order_configuration"))
        self._start(order)
        return success(order)

    def _build(self, body: dict[str, Any], client_id: str) -> SimOrder:
        if not client_id:
            raise Reject("INVALID_REQUEST", "client_order_id is required")
        product = self.products.get(str(body.get("product_id")))
        if product is None:
            raise Reject("INVALID_PRODUCT_ID", "Invalid product_id", "PREVIEW_INVALID_PRODUCT_ID")
        if body.get("side") not in ("BUY", "SELL"):
            raise Reject("INVALID_SIDE", "side must be BUY or SELL")
        kind, settings = configuration(body)
        order = SimOrder(
            order_id=str(uuid.uuid4()), client_order_id=client_id, product_id=product.product_id,
            side=str(body["side"]), kind=kind, config=settings, created=time.time(), size=Decimal(0),
        )  # fmt: skip
        self._shape(order, product, settings)
        check_attached(order, product, body.get("attached_order_configuration"))
        return order

    def _shape(self, order: SimOrder, product: Product, settings: dict[str, Any]) -> None:
        if order.kind == MARKET and "base_size" not in settings and order.side == "BUY":
            quote = decimal(settings.get("quote_size"), "quote_size")
            order.size = (quote / product.ask).quantize(product.base_increment, ROUND_DOWN)
        else:
            order.size = decimal(settings.get("base_size"), "base_size")
        check_size(product, order.size)
        if order.kind == MARKET:
            return
        order.limit = decimal(settings.get("limit_price"), "limit_price")
        check_price(product, order.limit)
        if order.kind.endswith("_gtd"):
            order.end_time = end_time(settings)
        if order.kind in STOPS:
            self._shape_stop(order, product, settings)
        elif order.kind in BRACKETS:
            shape_bracket(order, product, decimal(settings.get("stop_trigger_price"), "stop_trigger_price"))

    def _shape_stop(self, order: SimOrder, product: Product, settings: dict[str, Any]) -> None:
        order.stop = decimal(settings.get("stop_price"), "stop_price")
        check_price(product, order.stop)
        order.stop_direction = str(settings.get("stop_direction"))
        if order.stop_direction == UP and order.stop <= product.price:
            raise Reject(
                "INVALID_REQUEST", "stop price below last trade price", "PREVIEW_STOP_PRICE_BELOW_LAST_TRADE_PRICE"
            )
        if order.stop_direction == DOWN and order.stop >= product.price:
            raise Reject(
                "INVALID_REQUEST", "stop price above last trade price", "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE"
            )
        if order.stop_direction not in (UP, DOWN):
            raise Reject("INVALID_REQUEST", "stop_direction is required")
        order.trigger_status = "STOP_PENDING"

    def _hold(self, order: SimOrder, side: str, size: Decimal) -> None:
        product = self.products[order.product_id]
        if side == "SELL":
            currency, amount = product.base, size
        else:
            worst = product.ask if order.limit is None else order.limit
            if order.is_bracket:
                worst = max(worst, order.bracket_stop_limit())
            currency, amount = product.quote, size * worst * (1 + self.taker)
        if not self.ledger.hold(currency, amount):
            raise Reject("INSUFFICIENT_FUND", "Insufficient balance in source account", "PREVIEW_INSUFFICIENT_FUND")
        order.hold_currency, order.hold_amount = currency, amount

    def _register_attached(self, parent: SimOrder, attached: dict[str, Any] | None) -> None:
        if not attached:
            return
        settings = dict(attached["trigger_bracket_gtc"])
        child = SimOrder(
            order_id=str(uuid.uuid4()), client_order_id=str(uuid.uuid4()), product_id=parent.product_id,
            side="SELL" if parent.side == "BUY" else "BUY", kind="trigger_bracket_gtc", config=settings,
            created=parent.created, size=parent.size, status="PENDING", originating_order_id=parent.order_id,
        )  # fmt: skip
        shape_bracket(child, self.products[parent.product_id], decimal(settings["stop_trigger_price"], "stop"))
        child.limit = decimal(settings["limit_price"], "limit_price")
        parent.attached, parent.attached_order_id = attached, child.order_id
        self.orders[child.order_id] = child

    # -- matching --------------------------------------------------------------------------

    def _start(self, order: SimOrder) -> None:
        product = self.products[order.product_id]
        if order.kind == MARKET or (
            order.kind not in STOPS and order.kind not in BRACKETS and _marketable(order, product)
        ):
            self._execute(order, _touch(order, product), "TAKER")
        elif order.kind in IMMEDIATE:
            self._close(order, "CANCELLED", "Immediate or cancel order could not fill")
        else:
            self.work(order)

    def work(self, order: SimOrder) -> None:
        """Fill, trigger or expire one resting order against its product's last price."""
        product = self.products[order.product_id]
        if order.status != "OPEN":
            return
        if order.end_time is not None and time.time() >= order.end_time:
            self._close(order, "EXPIRED", "")
        elif order.is_bracket:
            self._work_bracket(order, product)
        elif order.trigger_status == "STOP_PENDING":
            if _crossed(product.price, order.stop, up=order.stop_direction == UP):
                order.trigger_status = "STOP_TRIGGERED"
                if _marketable(order, product):
                    self._execute(order, _touch(order, product), "TAKER")
        elif _crossed(product.price, order.limit, up=order.side == "SELL"):
            self._execute(order, order.limit or product.price, "MAKER")

    def _work_bracket(self, order: SimOrder, product: Product) -> None:
        selling = order.side == "SELL"
        if order.trigger_status == "STOP_PENDING" and _crossed(product.price, order.limit, up=selling):
            self._execute(order, order.limit or product.price, "MAKER")
        elif order.trigger_status == "STOP_PENDING" and _crossed(product.price, order.stop, up=not selling):
            order.trigger_status = "STOP_TRIGGERED"
        if order.status == "OPEN" and order.trigger_status == "STOP_TRIGGERED":
            touch, floor = _touch(order, product), order.bracket_stop_limit()
            if (touch >= floor) if selling else (touch <= floor):
                self._execute(order, touch, "TAKER")

    def fill(self, order_id: str) -> None:
        """Fill a resting order now: at its limit (a bracket at its take-profit), else at the touch."""
        order = self.orders[order_id]
        if order.status != "OPEN":
            return
        if order.trigger_status == "STOP_PENDING" and not order.is_bracket:
            order.trigger_status = "STOP_TRIGGERED"
        product = self.products[order.product_id]
        self._execute(order, order.limit or _touch(order, product), "MAKER")

    def _execute(self, order: SimOrder, price: Decimal, liquidity: str) -> None:
        product, now = self.products[order.product_id], time.time()
        size, value = order.remaining, order.remaining * price
        fee = value * (self.taker if liquidity == "TAKER" else self.maker)
        self.ledger.release(order.hold_currency, order.hold_amount)
        order.hold_amount = Decimal(0)
        if order.side == "BUY":
            paid = value + fee
            if self.ledger.wallet(product.quote).available < paid:
                self._close(order, "CANCELLED", "Insufficient funds at execution")
                return
            cost = paid * (usd_value(self.products, product.quote) or Decimal(1))
            self.ledger.settle(pay=product.quote, pay_amount=paid, get=product.base, get_amount=size, usd_cost=cost)
        else:
            self.ledger.settle(
                pay=product.base, pay_amount=size, get=product.quote, get_amount=value - fee, usd_cost=fee
            )
        order.filled_size += size
        order.filled_value += value
        order.fees += fee
        order.number_of_fills += 1
        order.last_fill_time, order.status = now, "FILLED"
        self._record_fill(fill_json(order, price=price, size=size, commission=fee, liquidity=liquidity, now=now))
        self._activate_attached(order)

    def _record_fill(self, fill: dict[str, Any]) -> None:
        self.fills.append(fill)
        if self.faults.take(f"fill {fill['order_id']}", ("duplicate_fill",)):
            self.fills.append(dict(fill))  # the same execution reported again (same trade_id)

    def _activate_attached(self, parent: SimOrder) -> None:
        child = self.orders.get(parent.attached_order_id)
        if child is None or child.status != "PENDING":
            return
        child.size = parent.filled_size
        child.config = {"base_size": format(child.size.normalize(), "f"), **child.config}
        child.status = "OPEN"
        try:
            self._hold(child, child.side, child.size)
        except Reject:
            self._close(child, "CANCELLED", "Insufficient funds for the attached order")
            return
        self.work(child)

    def _close(self, order: SimOrder, status: str, message: str) -> None:
        self.ledger.release(order.hold_currency, order.hold_amount)
        order.hold_amount, order.status, order.cancel_message = Decimal(0), status, message
        child = self.orders.get(order.attached_order_id)
        if child is not None and child.status == "PENDING":
            self._close(child, "CANCELLED", "Parent order did not fill")

    def sweep(self) -> None:
        """Expire GTD orders whose end time has passed (Coinbase does it continuously)."""
        for order in list(self.orders.values()):
            if order.status == "OPEN" and order.end_time is not None and time.time() >= order.end_time:
                self._close(order, "EXPIRED", "")

    # -- cancel ----------------------------------------------------------------------------

    def cancel(self, order_ids: list[str]) -> dict[str, Any]:
        """Batch cancel's answer, one result per id."""
        return {"results": [self._cancel_one(order_id) for order_id in order_ids]}

    def _cancel_one(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        reason = "UNKNOWN_CANCEL_FAILURE_REASON"
        if order is None:
            reason = "UNKNOWN_CANCEL_ORDER"
        elif order.status == "FILLED":
            reason = "ORDER_IS_FULLY_FILLED"
        elif not order.is_open:
            reason = "DUPLICATE_CANCEL_REQUEST"
        else:
            self._close(order, "CANCELLED", "User requested cancel")
            return {"success": True, "failure_reason": reason, "order_id": order_id}
        return {"success": False, "failure_reason": reason, "order_id": order_id}

    def order_json(self, order_id: str) -> dict[str, Any] | None:
        order = self.orders.get(order_id)
        return None if order is None else order_json(order)


def _touch(order: SimOrder, product: Product) -> Decimal:
    return product.ask if order.side == "BUY" else product.bid


def _marketable(order: SimOrder, product: Product) -> bool:
    if order.limit is None:
        return True
    return product.ask <= order.limit if order.side == "BUY" else product.bid >= order.limit


def _crossed(price: Decimal, level: Decimal | None, *, up: bool) -> bool:
    """Has the last price reached `level` going up (or down)?"""
    return level is not None and (price >= level if up else price <= level)
