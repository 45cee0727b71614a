"""Our orders as Coinbase `order_configuration`s, and Coinbase orders and fills back as `OrderState`s.

https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/orders/create-order

- market: `market_market_ioc` by base size (Coinbase market orders are always IOC);
- limit: gtc `limit_limit_gtc`, ioc `sor_limit_ioc`, fok `limit_limit_fok`, day `limit_limit_gtd`
  ending at the next 00:00 UTC (crypto trades around the clock; the UTC day is its "day");
- stop-limit: `stop_limit_stop_limit_gtc` (day: `_gtd`), triggered upwards for a buy and
  downwards for a sell. Coinbase has no plain stop (stop-market) order.
- take-profit + stop-loss: an `attached_order_configuration` `trigger_bracket_gtc` (limit = the
  take-profit, stop trigger = the stop-loss) that Coinbase places when the parent fills. It takes
  both exits, and Coinbase sets the stop's limit itself (5 % through the trigger), so a single exit
  or a stop-loss limit price cannot be sent. It is reported as the parent's two legs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from brokers.adapters.base import (
    Execution,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from brokers.adapters.coinbase.payloads import dec, plain, symbol_of

LIMIT_KIND = {
    TimeInForce.GTC: "limit_limit_gtc",
    TimeInForce.DAY: "limit_limit_gtd",
    TimeInForce.IOC: "sor_limit_ioc",
    TimeInForce.FOK: "limit_limit_fok",
}
STOP_KIND = {TimeInForce.GTC: "stop_limit_stop_limit_gtc", TimeInForce.DAY: "stop_limit_stop_limit_gtd"}
STATUS = {
    "PENDING": OrderStatus.SUBMITTED,
    "OPEN": OrderStatus.SUBMITTED,
    "QUEUED": OrderStatus.SUBMITTED,
    "CANCEL_QUEUED": OrderStatus.SUBMITTED,
    "EDIT_QUEUED": OrderStatus.SUBMITTED,
    "FILLED": OrderStatus.FILLED,
    "CANCELLED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.CANCELED,
    "FAILED": OrderStatus.REJECTED,
}
LEG_SUFFIXES = {":tp": "take_profit", ":sl": "stop_loss"}


def unsupported(request: OrderRequest) -> str | None:
    """Why Coinbase cannot take this order as asked, or None."""
    if request.type == OrderType.STOP:
        return "Coinbase has no stop (market) orders; send a stop-limit order instead."
    if request.type == OrderType.STOP_LIMIT and request.time_in_force not in STOP_KIND:
        return "Coinbase stop-limit orders are good-till-cancelled or day orders only."
    if request.has_bracket and (request.take_profit_limit_price is None or request.stop_loss_stop_price is None):
        return "Coinbase's attached bracket needs both a take-profit and a stop-loss."
    if request.stop_loss_limit_price is not None:
        return "Coinbase sets the stop-loss limit itself (5 % through the trigger); leave its limit price out."
    return None


def _price(value: Decimal | None, what: str) -> str:
    if value is None:
        raise OrderRejected(f"This order needs {what}.")
    return plain(value)


def end_of_day(now: datetime) -> str:
    midnight = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(0), tzinfo=UTC)
    return midnight.strftime("%Y-%m-%dT%H:%M:%SZ")


def configuration(request: OrderRequest, *, now: datetime) -> dict[str, dict[str, Any]]:
    settings: dict[str, Any] = {"base_size": plain(request.qty)}
    if request.type == OrderType.MARKET:
        return {"market_market_ioc": settings}
    settings["limit_price"] = _price(request.limit_price, "a limit price")
    if request.type == OrderType.STOP_LIMIT:
        kind = STOP_KIND[request.time_in_force]
        settings["stop_price"] = _price(request.stop_price, "a stop price")
        up = request.side == Side.BUY
        settings["stop_direction"] = "STOP_DIRECTION_STOP_UP" if up else "STOP_DIRECTION_STOP_DOWN"
    else:
        kind = LIMIT_KIND[request.time_in_force]
        if kind in ("limit_limit_gtc", "limit_limit_gtd"):
            settings["post_only"] = False
    if kind.endswith("_gtd"):
        settings["end_time"] = end_of_day(now)
    return {kind: settings}


def create_body(request: OrderRequest, product: str, *, now: datetime) -> dict[str, Any]:
    """The Create Order request; Coinbase deduplicates on `client_order_id` (a repeat returns the first)."""
    problem = unsupported(request)
    if problem:
        raise OrderRejected(problem)
    body: dict[str, Any] = {
        "client_order_id": request.client_order_id,
        "product_id": product,
        "side": request.side.value.upper(),
        "order_configuration": configuration(request, now=now),
    }
    if request.has_bracket:
        exits = {
            "limit_price": _price(request.take_profit_limit_price, "a take-profit price"),
            "stop_trigger_price": _price(request.stop_loss_stop_price, "a stop-loss price"),
        }
        body["attached_order_configuration"] = {"trigger_bracket_gtc": exits}
    return body


def submitted(request: OrderRequest, order_id: str) -> OrderState:
    """What is known of an accepted order before Coinbase is asked about it again."""
    return OrderState(
        broker_order_id=order_id,
        client_order_id=request.client_order_id,
        symbol=request.symbol,
        side=request.side,
        type=request.type,
        qty=request.qty,
        status=OrderStatus.SUBMITTED,
    )


# --- Coinbase → ours -------------------------------------------------------------------------


def _config(order: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    for kind, settings in (order.get("order_configuration") or {}).items():
        if settings:
            return kind, settings
    return "", {}


def _type(kind: str) -> OrderType:
    if kind.startswith("market"):
        return OrderType.MARKET
    return OrderType.STOP_LIMIT if kind.startswith("stop_limit") else OrderType.LIMIT


def _time(text: Any) -> datetime | None:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None


def executions(fills: Iterable[Mapping[str, Any]]) -> tuple[Execution, ...]:
    """Fills keyed by `trade_id`: a fill Coinbase reports twice is counted once."""
    seen: dict[str, Execution] = {}
    for fill in fills:
        price, size = dec(fill.get("price")), dec(fill.get("size"))
        if fill.get("size_in_quote") is True and price:
            size = size / price
        seen.setdefault(
            str(fill["trade_id"]),
            Execution(
                execution_id=str(fill["trade_id"]),
                qty=size,
                price=price,
                fee=dec(fill.get("commission")),
                fee_currency=str(fill.get("product_id", "-")).split("-")[-1],
                executed_at=_time(fill.get("trade_time")),
            ),
        )
    return tuple(sorted(seen.values(), key=lambda e: e.executed_at or datetime.min.replace(tzinfo=UTC)))


def order_state(order: Mapping[str, Any], fills: Sequence[Mapping[str, Any]] = ()) -> OrderState:
    """One Coinbase order (Get/List Orders) as our state; `fills` are its own (List Fills)."""
    kind, settings = _config(order)
    filled = dec(order.get("filled_size"))
    qty = dec(settings.get("base_size")) or filled
    status = STATUS.get(str(order.get("status")), OrderStatus.UNKNOWN)
    if status == OrderStatus.SUBMITTED and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    reason = ""
    if status in (OrderStatus.REJECTED, OrderStatus.CANCELED):
        reason = str(order.get("reject_message") or order.get("cancel_message") or "").strip()
    return OrderState(
        broker_order_id=str(order["order_id"]),
        client_order_id=str(order.get("client_order_id") or ""),
        symbol=symbol_of(str(order["product_id"])),
        side=Side(str(order["side"]).lower()),
        type=_type(kind),
        qty=qty,
        status=status,
        filled_qty=filled,
        avg_fill_price=dec(order.get("average_filled_price")) if filled else None,
        fee=dec(order.get("total_fees")),
        reason=reason,
        updated_at=_time(order.get("last_fill_time") or order.get("created_time")),
        fills=executions(f for f in fills if f.get("order_id") == order["order_id"]),
    )


def legs(parent: OrderState, attached: Mapping[str, Any], fills: Sequence[Mapping[str, Any]]) -> tuple[OrderState, ...]:
    """The attached trigger bracket as two legs: the take-profit (its limit) and the stop-loss (its trigger).

    One Coinbase order carries both exits: while it waits for the parent it is held (pending); once
    its stop triggers the take-profit is gone; when it fills, the trigger status tells which exit did.
    """
    state = order_state(attached, fills)
    if not dec((_config(attached)[1]).get("base_size")):
        state = replace(state, qty=parent.qty)
    raw = str(attached.get("status"))
    stopped = attached.get("trigger_status") == "STOP_TRIGGERED"
    empty = {"filled_qty": Decimal(0), "avg_fill_price": None, "fee": Decimal(0), "fills": ()}
    if raw == "PENDING":
        tp = sl = replace(state, status=OrderStatus.PENDING)
    elif state.status == OrderStatus.FILLED:
        winner, loser = replace(state), replace(state, status=OrderStatus.CANCELED, **empty)
        tp, sl = (loser, winner) if stopped else (winner, loser)
    elif state.status.is_open and stopped:
        tp, sl = replace(state, status=OrderStatus.CANCELED, **empty), state
    else:
        tp = sl = state
    return (
        replace(tp, client_order_id=f"{parent.client_order_id}:tp", type=OrderType.LIMIT, role="take_profit"),
        replace(sl, client_order_id=f"{parent.client_order_id}:sl", type=OrderType.STOP_LIMIT, role="stop_loss"),
    )


def leg_client_id(client_order_id: str) -> tuple[str, str]:
    """(the parent's client id, the leg role) for `<id>:tp` / `<id>:sl`; (id, "") otherwise."""
    for suffix, role in LEG_SUFFIXES.items():
        if client_order_id.endswith(suffix):
            return client_order_id[: -len(suffix)], role
    return client_order_id, ""
