"""Brackets: an entry order with take-profit and stop-loss exit legs, native or emulated, in one place.

Native: the broker holds the legs and keeps them one-cancels-other; it reports them with the
entry (`OrderState.legs`) and we record each as an order of ours (`parent`, `leg`).

Emulated (capability `bracket="emulated"`): the broker gets the entry alone. Once the entry is
done with something filled, both legs are stored for the filled quantity (so a restart keeps the
pair) with client order ids of the entry's plus `:tp` / `:sl`. Only the take-profit goes to the
broker: two exit orders for the same quantity would both reserve it, and a spot venue refuses
the second. The stop-loss is `held`: `brackets_watch` compares it with the market every second
and, when the stop is reached, cancels the take-profit and then sends the stop-loss (a stop as a
market order, a stop-limit as a limit order). Whichever leg fills first cancels the other.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction

from brokers.adapters.base import OrderRequest, OrderState, OrderStatus, OrderType, Side, TimeInForce
from brokers.adapters.registry import get_spec
from brokers.models import BrokerConnection, Order, OrderLeg
from brokers.sessions import broker_session
from config.domain import Conflict

_SUFFIX = {OrderLeg.TAKE_PROFIT: "tp", OrderLeg.STOP_LOSS: "sl"}
_OPEN = [s.value for s in OrderStatus if s.is_open]


def native_leg(*, parent: Order, state: OrderState) -> Order:
    """Our record of a native bracket leg the broker reported with its entry (created on first sight)."""
    leg = OrderLeg(state.role)
    existing = Order.objects.filter(parent=parent, leg=leg).first()
    if existing is not None:
        return existing
    request = _leg_request(parent, leg, state.qty, client_order_id=state.client_order_id or None)
    return _create_leg(parent, leg, request, broker_order_id=state.broker_order_id)


def bracket_after_change(*, order: Order, status_before: str) -> None:
    """Emulated brackets: store the legs once the entry is done, and keep the pair one-cancels-other."""
    if order.status == status_before or order.bracket != "emulated":
        return
    if not order.leg:
        if not OrderStatus(order.status).is_open and order.filled_qty > 0:
            _legs_store(order)
    elif order.status == OrderStatus.FILLED:
        _siblings_cancel(order)
    elif order.leg == OrderLeg.TAKE_PROFIT and order.status == OrderStatus.CANCELED:
        _triggered_stop_send(order)


def brackets_watch(*, connection: BrokerConnection) -> list[Order]:
    """Send the held stop-losses of a connection whose stop the market has reached; returns them."""
    held = list(Order.objects.filter(connection=connection, held=True, status=OrderStatus.PENDING))
    if not held:
        return []
    with broker_session(connection) as adapter:
        quotes = adapter.quotes(sorted({leg.symbol for leg in held}))
    fired = [leg for leg in held if leg.symbol in quotes and _reached(leg, quotes[leg.symbol].price)]
    for leg in fired:
        _stop_fire(leg)
    return fired


def _reached(leg: Order, price: Decimal) -> bool:
    stop = leg.stop_price or Decimal(0)  # held legs are stop-losses: they have one
    return price <= stop if leg.side == Side.SELL else price >= stop


def _stop_fire(leg: Order) -> None:
    """Release a stop-loss: the take-profit is cancelled first, and the stop goes once it is gone."""
    from brokers.services.orders.canceling import order_cancel_request

    with transaction.atomic():
        if not Order.objects.filter(pk=leg.pk, held=True).update(held=False):
            return  # fired by another worker
        take = Order.objects.filter(parent_id=leg.parent_id, leg=OrderLeg.TAKE_PROFIT, status__in=_OPEN).first()
    if take is None:
        _send(leg)
        return
    try:
        take = order_cancel_request(order=take)
    except Conflict:
        return  # it has just filled: its fill cancels this leg
    if take.status == OrderStatus.CANCELED:  # it never left us
        _send(leg)


def _triggered_stop_send(take_profit: Order) -> None:
    stop = Order.objects.filter(
        parent_id=take_profit.parent_id, leg=OrderLeg.STOP_LOSS, held=False, status=OrderStatus.PENDING
    ).first()
    if stop is not None:
        _send(stop)


def _send(order: Order) -> None:
    from brokers.services.orders.placing import order_enqueue_submit

    order_enqueue_submit(order)


def as_triggered(request: OrderRequest) -> OrderRequest:
    """A released stop-loss as sent: its stop has been reached, so a market order (or a limit at its limit)."""
    if request.type == OrderType.STOP_LIMIT:
        return OrderRequest(**{**_fields(request), "type": OrderType.LIMIT, "stop_price": None})
    return OrderRequest(**{**_fields(request), "type": OrderType.MARKET, "stop_price": None, "limit_price": None})


def _fields(request: OrderRequest) -> dict[str, object]:
    return {name: getattr(request, name) for name in request.__dataclass_fields__}


def _legs_store(entry: Order) -> None:
    take, stop = entry.take_profit_limit_price, entry.stop_loss_stop_price
    if take is not None and not Order.objects.filter(parent=entry, leg=OrderLeg.TAKE_PROFIT).exists():
        _send(_create_leg(entry, OrderLeg.TAKE_PROFIT, _leg_request(entry, OrderLeg.TAKE_PROFIT, entry.filled_qty)))
    if stop is not None and not Order.objects.filter(parent=entry, leg=OrderLeg.STOP_LOSS).exists():
        _create_leg(entry, OrderLeg.STOP_LOSS, _leg_request(entry, OrderLeg.STOP_LOSS, entry.filled_qty), held=True)


def _siblings_cancel(leg: Order) -> None:
    from brokers.services.orders.canceling import order_cancel_request

    for sibling in Order.objects.filter(parent_id=leg.parent_id, status__in=_OPEN).exclude(pk=leg.pk):
        Order.objects.filter(pk=sibling.pk).update(held=False)
        try:
            order_cancel_request(order=sibling)
        except Conflict:  # it closed meanwhile
            continue


def _leg_request(entry: Order, leg: OrderLeg, qty: Decimal, *, client_order_id: str | None = None) -> OrderRequest:
    exit_side = Side.SELL if entry.side == Side.BUY else Side.BUY
    if leg == OrderLeg.TAKE_PROFIT:
        kind, limit, stop = OrderType.LIMIT, entry.take_profit_limit_price, None
    else:
        limit, stop = entry.stop_loss_limit_price, entry.stop_loss_stop_price
        kind = OrderType.STOP if limit is None else OrderType.STOP_LIMIT
    return OrderRequest(
        client_order_id=client_order_id or f"{entry.client_order_id}:{_SUFFIX[leg]}",
        symbol=entry.symbol,
        side=exit_side,
        type=kind,
        qty=qty,
        time_in_force=_exit_time_in_force(entry.broker),
        limit_price=limit,
        stop_price=stop,
    )


def _exit_time_in_force(broker: str) -> TimeInForce:
    offered = get_spec(broker).capabilities.time_in_force
    return TimeInForce.GTC if TimeInForce.GTC in offered else offered[0]


def _create_leg(
    entry: Order, leg: OrderLeg, request: OrderRequest, *, broker_order_id: str = "", held: bool = False
) -> Order:
    fields = {
        "symbol": request.symbol,
        "side": request.side,
        "type": request.type,
        "qty": request.qty,
        "time_in_force": request.time_in_force,
        "limit_price": request.limit_price,
        "stop_price": request.stop_price,
    }
    try:
        with transaction.atomic():
            return Order.objects.create(
                user_id=entry.user_id,
                connection_id=entry.connection_id,
                broker=entry.broker,
                client_order_id=request.client_order_id,
                request_fingerprint=request.fingerprint(entry.broker),
                parent=entry,
                leg=leg,
                bracket=entry.bracket,  # a native leg is the broker's to send, never ours
                held=held,
                broker_order_id=broker_order_id,
                status=OrderStatus.SUBMITTED if broker_order_id else OrderStatus.PENDING,
                **fields,
            )
    except IntegrityError:  # recorded meanwhile by another report
        return Order.objects.get(user_id=entry.user_id, client_order_id=request.client_order_id)
