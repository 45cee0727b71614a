"""Schwab orders ⇄ ours: the Trader API's `Order` (orderStrategyType, orderLegCollection, executions).

Orders are built with schwab-py's own `OrderBuilder`, so what is sent is what its documentation
describes: equity legs (`BUY`/`SELL`), whole shares, prices as strings (schwab-py's advice, to avoid
float rounding), session NORMAL. A bracket is a TRIGGER order whose child is an OCO pair (a
take-profit LIMIT and a stop-loss STOP/STOP_LIMIT, both GOOD_TILL_CANCEL so they outlive the day).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import httpx
from schwab.orders.common import (
    Duration,
    EquityInstruction,
    OrderStrategyType,
    Session,
    first_triggers_second,
    one_cancels_other,
)
from schwab.orders.common import OrderType as SchwabType
from schwab.orders.generic import OrderBuilder

from brokers.adapters.base import (
    Execution,
    LegRole,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from brokers.adapters.schwab.payloads import ZERO, dec, parse_time, schwab_symbol

DURATIONS = {
    TimeInForce.DAY: Duration.DAY,
    TimeInForce.GTC: Duration.GOOD_TILL_CANCEL,
    TimeInForce.IOC: Duration.IMMEDIATE_OR_CANCEL,
    TimeInForce.FOK: Duration.FILL_OR_KILL,
}
TYPES = {
    OrderType.MARKET: SchwabType.MARKET,
    OrderType.LIMIT: SchwabType.LIMIT,
    OrderType.STOP: SchwabType.STOP,
    OrderType.STOP_LIMIT: SchwabType.STOP_LIMIT,
}
TYPES_BACK = {schwab.value: ours for ours, schwab in TYPES.items()}
BUY_INSTRUCTIONS = {"BUY", "BUY_TO_COVER", "BUY_TO_OPEN", "BUY_TO_CLOSE"}
STATUSES = {
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.CANCELED,
    "REPLACED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "AWAITING_PARENT_ORDER": OrderStatus.PENDING,  # a bracket leg held until its entry fills
    "UNKNOWN": OrderStatus.UNKNOWN,
}  # every other Schwab status (WORKING, QUEUED, PENDING_ACTIVATION, ...) is an open order
_ORDER_PATH = re.compile(r"/orders/(\d+)/?$")


def order_id_from_location(location: str | None) -> str | None:
    """The new order's id from `Location` (whatever host it names: Schwab's, a proxy's, a simulator's)."""
    found = _ORDER_PATH.search(httpx.URL(location).path) if location else None
    return found.group(1) if found else None


# --- orders out ------------------------------------------------------------------------------


def _shares(qty: Decimal) -> int:
    if qty <= 0 or qty != qty.to_integral_value():
        raise OrderRejected(f"Schwab's API trades whole shares only; {qty} is not one.")
    return int(qty)


def _single(
    symbol: str, qty: int, side: Side, kind: OrderType, *, limit: Decimal | None, stop: Decimal | None, tif: TimeInForce
) -> OrderBuilder:
    instruction = EquityInstruction.BUY if side is Side.BUY else EquityInstruction.SELL
    builder = (
        OrderBuilder()
        .set_order_type(TYPES[kind])
        .set_session(Session.NORMAL)
        .set_duration(DURATIONS[tif])
        .set_order_strategy_type(OrderStrategyType.SINGLE)
        .add_equity_leg(instruction, symbol, qty)
    )
    if limit is not None:
        builder.set_price(format(limit, "f"))
    if stop is not None:
        builder.set_stop_price(format(stop, "f"))
    return builder


def order_spec(request: OrderRequest) -> dict[str, Any]:
    """The order as `POST /accounts/{hash}/orders` takes it: SINGLE, or TRIGGER + OCO for a bracket."""
    symbol, qty, side = schwab_symbol(request.symbol), _shares(request.qty), request.side
    entry = _single(
        symbol, qty, side, request.type, limit=request.limit_price, stop=request.stop_price, tif=request.time_in_force
    )
    if not request.has_bracket:
        return dict(entry.build())
    exit_side, gtc = (Side.SELL if side is Side.BUY else Side.BUY), TimeInForce.GTC
    exits = []
    if request.take_profit_limit_price is not None:
        take = request.take_profit_limit_price
        exits.append(_single(symbol, qty, exit_side, OrderType.LIMIT, limit=take, stop=None, tif=gtc))
    if request.stop_loss_stop_price is not None:
        kind = OrderType.STOP if request.stop_loss_limit_price is None else OrderType.STOP_LIMIT
        limit, stop = request.stop_loss_limit_price, request.stop_loss_stop_price
        exits.append(_single(symbol, qty, exit_side, kind, limit=limit, stop=stop, tif=gtc))
    child = one_cancels_other(*exits) if len(exits) == 2 else exits[0]
    return dict(first_triggers_second(entry, child).build())


# --- orders in -------------------------------------------------------------------------------


def _leg(order: dict[str, Any]) -> dict[str, Any]:
    legs = order.get("orderLegCollection") or [{}]
    return legs[0] or {}


def _kind(order: dict[str, Any]) -> OrderType:
    found = TYPES_BACK.get(str(order.get("orderType", "")))
    if found is not None:
        return found
    has_limit, has_stop = order.get("price") is not None, order.get("stopPrice") is not None
    return {(True, True): OrderType.STOP_LIMIT, (False, True): OrderType.STOP, (True, False): OrderType.LIMIT}.get(
        (has_limit, has_stop), OrderType.MARKET
    )


def fills(order: dict[str, Any]) -> tuple[Execution, ...]:
    """Executions from `orderActivityCollection`, each once (a repeated report has the same activityId)."""
    seen: dict[str, Execution] = {}
    for index, activity in enumerate(order.get("orderActivityCollection") or []):
        if activity.get("activityType") != "EXECUTION":
            continue
        for leg_index, leg in enumerate(activity.get("executionLegs") or []):
            base = activity.get("activityId", f"{order.get('orderId')}-{index}")
            key = f"{base}" if leg_index == 0 else f"{base}-{leg_index}"
            at = parse_time(leg.get("time"))
            seen.setdefault(key, Execution(key, dec(leg.get("quantity")), dec(leg.get("price")), executed_at=at))
    return tuple(seen.values())


def _average(executions: tuple[Execution, ...]) -> Decimal | None:
    qty = sum((e.qty for e in executions), ZERO)
    return sum((e.qty * e.price for e in executions), ZERO) / qty if qty else None


def _status(order: dict[str, Any], filled: Decimal) -> OrderStatus:
    status = STATUSES.get(str(order.get("status", "")))
    if status is None:
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.SUBMITTED
    return status


def order_state(order: dict[str, Any], *, role: LegRole = "") -> OrderState:
    """Our view of a Schwab order; a TRIGGER's exits come along as `legs` with their role."""
    leg = _leg(order)
    executions = fills(order)
    filled = dec(order.get("filledQuantity"), sum((e.qty for e in executions), ZERO))
    status = _status(order, filled)
    return OrderState(
        broker_order_id=str(order.get("orderId", "")),
        client_order_id="",  # Schwab has no client order id
        symbol=str((leg.get("instrument") or {}).get("symbol", "")),
        side=Side.BUY if leg.get("instruction") in BUY_INSTRUCTIONS else Side.SELL,
        type=_kind(order),
        qty=dec(order.get("quantity"), dec(leg.get("quantity"))),
        status=status,
        filled_qty=filled,
        avg_fill_price=_average(executions),
        reason=str(order.get("statusDescription", "")) if status is OrderStatus.REJECTED else "",
        updated_at=parse_time(order.get("closeTime")) or parse_time(order.get("enteredTime")),
        fills=executions,
        legs=tuple(_exits(order)) if order.get("orderStrategyType") == "TRIGGER" else (),
        role=role,
    )


def _exits(order: dict[str, Any]) -> list[OrderState]:
    found: list[OrderState] = []
    for child in order.get("childOrderStrategies") or []:
        if child.get("orderStrategyType") == "OCO" or not child.get("orderLegCollection"):
            found += _exits(child)
        else:
            role: LegRole = "take_profit" if _kind(child) is OrderType.LIMIT else "stop_loss"
            found.append(order_state(child, role=role))
    return found


def same_order(request: OrderRequest, order: dict[str, Any]) -> bool:
    """Whether a Schwab order is the one `request` describes (how a lost answer is recognised)."""
    return _shape(order_spec(request)) == _shape(order)


def _shape(order: dict[str, Any]) -> tuple[Any, ...]:
    children = sorted((_shape(child) for child in order.get("childOrderStrategies") or []), key=repr)
    if not order.get("orderLegCollection"):  # an OCO pair: only its legs say anything
        return ("OCO", tuple(children))
    leg = _leg(order)
    mine = (
        order.get("orderStrategyType", "SINGLE"),
        str((leg.get("instrument") or {}).get("symbol", "")).upper(),
        leg.get("instruction"),
        dec(leg.get("quantity")),
        order.get("orderType"),
        dec(order.get("price"), Decimal(-1)),
        dec(order.get("stopPrice"), Decimal(-1)),
        order.get("duration"),
    )
    return (*mine, tuple(children)) if children else mine
