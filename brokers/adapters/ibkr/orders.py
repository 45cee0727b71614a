"""Our orders as IB orders (native brackets included), and IB's trades back as our order states.

A native bracket (https://interactivebrokers.github.io/tws-api/bracket_order.html) is the entry,
a take-profit LMT and a stop-loss STP (or STP LMT) on the other side, the exits linked to the
entry by `parentId`. Only the last order is sent with `transmit=True`: TWS holds the others and
activates the set together, so a crash halfway never leaves an entry without its exits.
`orderRef` carries our client order id (the exits: `<id>:tp` and `<id>:sl`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from ib_async import LimitOrder, MarketOrder, Order, StopLimitOrder, StopOrder, Trade

from brokers.adapters.base import (
    BrokerError,
    InsufficientFunds,
    InvalidSymbol,
    LegRole,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderType,
    Side,
)
from brokers.adapters.ibkr.payloads import (
    CANCELED_STATES,
    FEE_GRACE,
    FUNDS,
    UNCONFIRMED_STATES,
    order_state,
    refusal,
)

LEG_SUFFIX: dict[LegRole, str] = {"take_profit": ":tp", "stop_loss": ":sl"}


def _plain(value: Decimal) -> Decimal:
    """Sent as text by ib_async (str(Decimal)): never in exponent notation."""
    return Decimal(format(value, "f"))


def _order(kind: OrderType, action: str, qty: Decimal, limit: Decimal | None, stop: Decimal | None) -> Order:
    if kind is OrderType.MARKET:
        return MarketOrder(action, qty)
    if kind is OrderType.LIMIT:
        return LimitOrder(action, qty, _plain(limit))  # type: ignore[arg-type]
    if kind is OrderType.STOP:
        return StopOrder(action, qty, _plain(stop))  # type: ignore[arg-type]
    return StopLimitOrder(action, qty, _plain(limit), _plain(stop))  # type: ignore[arg-type]


def build(request: OrderRequest, *, account: str, order_ids: Iterable[int]) -> list[Order]:
    """The IB orders for `request`: one, or a bracket's entry, take-profit and stop-loss in sending order."""
    ids = iter(order_ids)
    action = "BUY" if request.side is Side.BUY else "SELL"
    qty = _plain(request.qty)
    entry = _order(request.type, action, qty, request.limit_price, request.stop_price)
    orders = [entry]
    if request.has_bracket:
        exit_action = "SELL" if action == "BUY" else "BUY"
        if request.take_profit_limit_price is not None:
            orders.append(_order(OrderType.LIMIT, exit_action, qty, request.take_profit_limit_price, None))
            orders[-1].orderRef = request.client_order_id + LEG_SUFFIX["take_profit"]
        if request.stop_loss_stop_price is not None:
            kind = OrderType.STOP if request.stop_loss_limit_price is None else OrderType.STOP_LIMIT
            orders.append(_order(kind, exit_action, qty, request.stop_loss_limit_price, request.stop_loss_stop_price))
            orders[-1].orderRef = request.client_order_id + LEG_SUFFIX["stop_loss"]
    for order in orders:
        order.orderId, order.account, order.tif = next(ids), account, request.time_in_force.value.upper()
        order.transmit = order is orders[-1]
        order.parentId = entry.orderId if order is not entry else 0
    entry.orderRef = request.client_order_id
    return orders


def role_of(trade: Trade) -> LegRole:
    ref = trade.order.orderRef
    for role, suffix in LEG_SUFFIX.items():
        if ref.endswith(suffix):
            return role
    return "take_profit" if trade.order.orderType == "LMT" else "stop_loss"


def is_leg(trade: Trade) -> bool:
    return bool(trade.order.parentId or trade.order.parentPermId)


def children(parent: Trade, trades: Iterable[Trade]) -> list[Trade]:
    """The exits of `parent`: by parentId on this connection, by parentPermId once completed."""
    order = parent.order
    return [
        t
        for t in trades
        if t is not parent
        and (
            (order.orderId and t.order.parentId == order.orderId and t.order.clientId == order.clientId)
            or (order.permId and t.order.parentPermId == order.permId)
        )
    ]


def state(trade: Trade, trades: list[Trade], now: datetime) -> OrderState:
    """An order's state; a bracket entry with its exits as `legs`, an exit on its own with its `role`."""
    if is_leg(trade):
        return order_state(trade, now, role=role_of(trade))
    legs = tuple(order_state(t, now, role=role_of(t)) for t in children(trade, trades))
    return order_state(trade, now, legs=legs)


def parent_of(trade: Trade, trades: Iterable[Trade]) -> Trade | None:
    order = trade.order
    for t in trades:
        if (order.parentId and t.order.orderId == order.parentId and t.order.clientId == order.clientId) or (
            order.parentPermId and t.order.permId == order.parentPermId
        ):
            return t
    return None


def placement_error(entry: Trade) -> BrokerError | None:
    """Our error for an order IB refused: 201 rejected (funds or otherwise), 200 no such contract.

    Only the entry decides: a refused bracket exit is reported in the entry's `legs` instead, since
    the entry itself may be working.
    """
    refused = refusal(entry)
    if refused is None:
        inactive = entry.orderStatus.status == "Inactive" and not entry.fills
        return OrderRejected("Interactive Brokers did not accept the order (status Inactive).") if inactive else None
    code, text = refused
    if code == 200:
        return InvalidSymbol(f"Interactive Brokers has no such contract: {text}")
    if code == 201 and FUNDS.search(text):
        return InsufficientFunds(text)
    return OrderRejected(f"IB error {code}: {text}")


# --- looking trades up ------------------------------------------------------------------------


def signature(state: OrderState) -> tuple[object, ...]:
    """What a listener must hear about again when it changes."""
    return (state.status, state.filled_qty, state.fee, state.fills, tuple(signature(leg) for leg in state.legs))


def perm_id(trade: Trade) -> int:
    """IB's permanent order id (an order refused before any openOrder carries it only in its status)."""
    return trade.order.permId or trade.orderStatus.permId


def by_ref(trades: Iterable[Trade], client_order_id: str) -> Trade | None:
    found = [t for t in trades if t.order.orderRef == client_order_id]
    return max(found, key=perm_id) if found else None


def newest_first(trades: Iterable[Trade]) -> list[Trade]:
    return sorted(trades, key=perm_id, reverse=True)


def settled(trade: Trade, now: datetime) -> bool:
    """IB answered for this order: refused, or acknowledged with a permId and its fills (and fees) in."""
    status = trade.orderStatus.status
    if status in UNCONFIRMED_STATES:
        return False
    if refusal(trade) is not None or status in CANCELED_STATES:
        return True
    if not perm_id(trade):
        return False
    if sum(f.execution.shares for f in trade.fills) < trade.orderStatus.filled:
        return False  # executions still on their way
    return all(f.commissionReport.execId or now - f.time >= FEE_GRACE for f in trade.fills)


def cancel_refused(trade: Trade) -> bool:
    """TWS answered a cancel with "not found" or "cannot be cancelled"."""
    return any(entry.errorCode in (10147, 10148, 161) for entry in trade.log[-3:])
