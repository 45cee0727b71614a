"""Coinbase orders as the Create/Get/List Orders reference defines them: parsing and JSON bodies.

- create: https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/orders/create-order
- get:    https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/orders/get-order
- fills:  https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/orders/list-fills

`order_configuration` holds exactly one kind; `attached_order_configuration` (a take-profit /
stop-loss exit placed when the parent fills) may only be a `trigger_bracket_gtc` without a size.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.simulators.coinbase.clock import iso, parse
from tests.simulators.coinbase.market import Product, plain

MARKET = "market_market_ioc"
LIMITS = ("limit_limit_gtc", "limit_limit_gtd", "limit_limit_fok", "sor_limit_ioc")
STOPS = ("stop_limit_stop_limit_gtc", "stop_limit_stop_limit_gtd")
BRACKETS = ("trigger_bracket_gtc", "trigger_bracket_gtd")
KINDS = (MARKET, *LIMITS, *STOPS, *BRACKETS)
IMMEDIATE = ("sor_limit_ioc", "limit_limit_fok")
TIME_IN_FORCE = {
    MARKET: "IMMEDIATE_OR_CANCEL",
    "sor_limit_ioc": "IMMEDIATE_OR_CANCEL",
    "limit_limit_fok": "FILL_OR_KILL",
}
ORDER_TYPE = {MARKET: "MARKET", **dict.fromkeys(LIMITS, "LIMIT"), **dict.fromkeys(STOPS, "STOP_LIMIT")}
OPEN = ("OPEN", "PENDING")
STOP_SLIPPAGE = Decimal("0.05")  # a triggered bracket stop becomes a limit 5 % through the trigger


class Reject(Exception):
    """A create that Coinbase answers with `success: false` and an `error_response`."""

    def __init__(self, reason: str, message: str, preview: str = "") -> None:
        super().__init__(message)
        self.reason, self.message, self.preview = reason, message, preview

    def error_response(self) -> dict[str, str]:
        body = {"error": self.reason, "message": self.message, "error_details": self.message}
        if self.preview:
            body["preview_failure_reason"] = self.preview
        body["new_order_failure_reason"] = self.reason
        return body


@dataclass
class SimOrder:
    order_id: str
    client_order_id: str
    product_id: str
    side: str  # BUY / SELL
    kind: str  # the order_configuration key
    config: dict[str, Any]
    created: float
    size: Decimal
    limit: Decimal | None = None
    stop: Decimal | None = None
    stop_direction: str = ""
    end_time: float | None = None
    status: str = "OPEN"
    trigger_status: str = "INVALID_ORDER_TYPE"
    filled_size: Decimal = Decimal(0)
    filled_value: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    number_of_fills: int = 0
    last_fill_time: float | None = None
    hold_currency: str = ""
    hold_amount: Decimal = Decimal(0)
    attached: dict[str, Any] | None = None  # the attached_order_configuration as sent
    attached_order_id: str = ""
    originating_order_id: str = ""
    cancel_message: str = ""
    user_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def is_bracket(self) -> bool:
        return self.kind in BRACKETS

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled_size

    def bracket_stop_limit(self) -> Decimal:
        assert self.stop is not None
        factor = 1 - STOP_SLIPPAGE if self.side == "SELL" else 1 + STOP_SLIPPAGE
        return self.stop * factor


def decimal(value: Any, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise Reject("INVALID_REQUEST", f"{name} is not a number") from None
    if not number.is_finite() or number <= 0:
        raise Reject("INVALID_REQUEST", f"{name} must be positive")
    return number


def _multiple(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


def check_size(product: Product, size: Decimal) -> None:
    if not _multiple(size, product.base_increment):
        raise Reject("INVALID_SIZE_PRECISION", "Too many decimals in order amount", "PREVIEW_INVALID_SIZE_PRECISION")
    if size < product.base_min_size:
        raise Reject("INVALID_SIZE_PRECISION", "Order size too small", "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL")
    if size > product.base_max_size:
        raise Reject("INVALID_SIZE_PRECISION", "Order size too large", "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE")


def check_price(product: Product, price: Decimal) -> None:
    if not _multiple(price, product.quote_increment):
        raise Reject("INVALID_PRICE_PRECISION", "Too many decimals in order price", "PREVIEW_INVALID_PRICE_PRECISION")


def configuration(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    config = body.get("order_configuration")
    kinds = [k for k in (config or {}) if (config or {}).get(k) is not None]
    if len(kinds) != 1 or kinds[0] not in KINDS:
        raise Reject("UNSUPPORTED_ORDER_CONFIGURATION", "exactly one known order configuration is required")
    assert isinstance(config, dict)
    return kinds[0], dict(config[kinds[0]])


def end_time(settings: dict[str, Any]) -> float:
    try:
        return parse(str(settings["end_time"]))
    except (KeyError, ValueError):
        raise Reject("INVALID_REQUEST", "end_time is required (RFC 3339) for a GTD order") from None


def order_json(order: SimOrder) -> dict[str, Any]:
    average = order.filled_value / order.filled_size if order.filled_size else Decimal(0)
    gtd = order.end_time is not None
    tif = TIME_IN_FORCE.get(order.kind, "GOOD_UNTIL_DATE_TIME" if gtd else "GOOD_UNTIL_CANCELLED")
    body: dict[str, Any] = {
        "order_id": order.order_id,
        "product_id": order.product_id,
        "user_id": order.user_id,
        "order_configuration": {order.kind: order.config},
        "side": order.side,
        "client_order_id": order.client_order_id,
        "status": order.status,
        "time_in_force": tif,
        "created_time": iso(order.created),
        "completion_percentage": plain((order.filled_size / order.size * 100).quantize(Decimal("0.01"))),
        "filled_size": plain(order.filled_size),
        "average_filled_price": plain(average),
        "fee": "",
        "number_of_fills": str(order.number_of_fills),
        "filled_value": plain(order.filled_value),
        "pending_cancel": False,
        "size_in_quote": False,
        "total_fees": plain(order.fees),
        "size_inclusive_of_fees": False,
        "total_value_after_fees": plain(order.filled_value + (order.fees if order.side == "BUY" else -order.fees)),
        "trigger_status": order.trigger_status,
        "order_type": "BRACKET" if order.is_bracket else ORDER_TYPE[order.kind],
        "reject_reason": "REJECT_REASON_UNSPECIFIED",
        "settled": not order.is_open,
        "product_type": "SPOT",
        "reject_message": "",
        "cancel_message": order.cancel_message,
        "order_placement_source": "RETAIL_ADVANCED",
        "outstanding_hold_amount": plain(order.hold_amount),
        "is_liquidation": False,
        "last_fill_time": iso(order.last_fill_time) if order.last_fill_time else None,
        "edit_history": [],
        "leverage": "",
        "margin_type": "UNKNOWN_MARGIN_TYPE",
        "retail_portfolio_id": "",
        "originating_order_id": order.originating_order_id,
        "attached_order_id": order.attached_order_id,
        "attached_order_configuration": order.attached,
    }
    return body


def fill_json(order: SimOrder, *, price: Decimal, size: Decimal, commission: Decimal, liquidity: str, now: float):
    return {
        "entry_id": uuid.uuid4().hex,
        "trade_id": str(uuid.uuid4()),
        "order_id": order.order_id,
        "trade_time": iso(now),
        "trade_type": "FILL",
        "price": plain(price),
        "size": plain(size),
        "commission": plain(commission),
        "product_id": order.product_id,
        "sequence_timestamp": iso(now),
        "liquidity_indicator": liquidity,
        "size_in_quote": False,
        "user_id": order.user_id,
        "side": order.side,
        "retail_portfolio_id": "",
    }


def success(order: SimOrder) -> dict[str, Any]:
    response = {
        "order_id": order.order_id,
        "product_id": order.product_id,
        "side": order.side,
        "client_order_id": order.client_order_id,
    }
    if order.attached_order_id:
        response["attached_order_id"] = order.attached_order_id
    return {
        "success": True,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "order_id": order.order_id,
        "success_response": response,
        "order_configuration": {order.kind: order.config},
    }


def shape_bracket(order: SimOrder, product: Product, stop: Decimal) -> None:
    check_price(product, stop)
    order.stop, order.trigger_status = stop, "STOP_PENDING"
    limit = decimal(order.config.get("limit_price"), "limit_price")
    if (order.side == "SELL" and limit <= stop) or (order.side == "BUY" and limit >= stop):
        raise Reject("INVALID_REQUEST", "the take-profit limit must be beyond the stop trigger")


def check_attached(parent: SimOrder, product: Product, attached: Any) -> None:
    if attached is None:
        return
    settings = attached.get("trigger_bracket_gtc") if isinstance(attached, dict) else None
    if not isinstance(settings, dict) or len(attached) != 1:
        raise Reject("UNSUPPORTED_ORDER_CONFIGURATION", "Only trigger_bracket_gtc may be attached")
    if "base_size" in settings:
        raise Reject("INVALID_REQUEST", "an attached order takes its size from the parent; omit base_size")
    exit_order = SimOrder(
        order_id="", client_order_id="", product_id=parent.product_id, side="SELL" if parent.side == "BUY" else "BUY",
        kind="trigger_bracket_gtc", config=settings, created=0.0, size=parent.size,
    )  # fmt: skip
    check_price(product, decimal(settings.get("limit_price"), "limit_price"))
    shape_bracket(exit_order, product, decimal(settings.get("stop_trigger_price"), "stop_trigger_price"))
