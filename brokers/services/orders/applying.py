"""Applying what a broker says about an order: the one place fills are recorded and trade events leave.

A submit's answer, a pushed update (stream) and a poll all come through `order_apply_state`. Matches
are always scoped by connection: a broker's order id is only unique within one account (IB's are
small integers), so one user's fill can never land on another's order.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from brokers.adapters.base import OPEN_STATUSES, OrderState, OrderStatus
from brokers.models import Order
from brokers.services.orders import brackets
from brokers.services.orders.fills import fills_record, fills_totals
from brokers.signals import order_settled
from realtime import events
from realtime.publish import publish_to_user


def order_apply_state(*, order: Order, state: OrderState) -> Order:
    """Record what the broker says about `order` and emit the trade events it implies."""
    if _nothing_filled(state):
        return _status_update(order, state)
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if not OrderStatus(order.status).is_open and OrderStatus(state.status).is_open:
            return order  # a stale answer (e.g. the submit's reply after a fill was recorded)
        filled_before, status_before = order.filled_qty, order.status
        # The order's figures are its fills' totals (only this function writes them): a state with no
        # executions and nothing filled beyond them (a submit's "accepted") leaves the fills as they are.
        if state.fills or state.filled_qty > order.filled_qty:
            fills_record(order=order, state=state)
            totals = fills_totals(order=order)
            order.filled_qty, order.fee = totals.qty, totals.fee
            order.avg_fill_price = totals.avg_price if totals.avg_price is not None else order.avg_fill_price
        order.broker_order_id = state.broker_order_id or order.broker_order_id
        order.status = state.status
        if state.status == OrderStatus.REJECTED:
            order.error_code, order.error_message = order.error_code or "order_rejected", state.reason[:500]
        order.save()
        if order.filled_qty > filled_before and order.status in {OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED}:
            publish_to_user(order.user_id, events.TRADE_EXECUTED, events.trade_executed(order))
        elif order.status == OrderStatus.REJECTED and status_before != OrderStatus.REJECTED:
            publish_to_user(order.user_id, events.TRADE_FAILED, events.trade_failed(order))
        for leg_state in state.legs:
            order_apply_state(order=brackets.native_leg(parent=order, state=leg_state), state=leg_state)
        brackets.bracket_after_change(order=order, status_before=status_before)
        order_settled_after_commit(order, status_before)  # after the trade events and the legs it implies
    return order


def _nothing_filled(state: OrderState) -> bool:
    """An open order with nothing executed (a submit's "accepted", a resting order polled): no fills to
    record, no event, no leg, no bracket step; only the status and the broker's id can change."""
    return OrderStatus(state.status).is_open and not (state.fills or state.legs or state.filled_qty)


def _status_update(order: Order, state: OrderState) -> Order:
    """`order_apply_state` for `_nothing_filled` states, in one conditional UPDATE (no row lock, no fills
    read): an order already closed keeps its status (a stale answer), as under the lock."""
    changes = {"status": state.status, "updated_at": timezone.now()}
    if state.broker_order_id:
        changes["broker_order_id"] = state.broker_order_id
    if Order.objects.filter(pk=order.pk, status__in=OPEN_STATUSES).update(**changes):
        for name, value in changes.items():
            setattr(order, name, value)
    return order


def _unchanged(order: Order, state: OrderState) -> bool:
    """The broker reports what we hold already: applying it would change nothing."""
    same = order.status == state.status and order.filled_qty == state.filled_qty
    return same and not (state.fills or state.legs) and order.broker_order_id == state.broker_order_id


def _by_broker_id(candidates: list[Order], state: OrderState) -> Order | None:
    """The order a state is about; where a broker gives a bracket's legs its entry's id (Coinbase), by role."""
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    return next((o for o in candidates if o.leg == state.role), None)


def order_fail(order: Order, *, code: str, message: str, status: OrderStatus = OrderStatus.FAILED) -> None:
    """End an order we could not submit (or the broker refused outright) and tell the user."""
    status_before, order.status = order.status, status
    order.error_code = code
    order.error_message = message[:500]
    order.save(update_fields=["status", "error_code", "error_message", "updated_at"])
    publish_to_user(order.user_id, events.TRADE_FAILED, events.trade_failed(order))
    order_settled_after_commit(order, status_before)


def order_settled_after_commit(order: Order, status_before: str) -> None:
    """`order_settled` once the move from an open status to a terminal one has committed."""
    if OrderStatus(status_before).is_open and not OrderStatus(order.status).is_open:
        transaction.on_commit(lambda: order_settled.send(sender=Order, order=order))


def order_updates_apply(*, connection_id: int, states: Iterable[OrderState]) -> int:
    """Apply a batch of broker-side changes (pushed or polled) to the connection's orders; returns how many
    changed something (a poll lists every open order, most of them as we hold them already).

    An update is matched by the broker's order id, or else by our client order id: a push may
    arrive before the answer to the place call that recorded the broker's id.
    """
    states = list(states)
    orders = Order.objects.filter(connection_id=connection_id)
    by_broker: dict[str, list[Order]] = {}
    for order in orders.filter(broker_order_id__in=[s.broker_order_id for s in states if s.broker_order_id]):
        by_broker.setdefault(order.broker_order_id, []).append(order)
    unmatched = [s.client_order_id for s in states if s.broker_order_id not in by_broker and s.client_order_id]
    by_client = {o.client_order_id: o for o in orders.filter(client_order_id__in=unmatched)}
    applied = 0
    for state in states:
        order = _by_broker_id(by_broker.get(state.broker_order_id, []), state) or by_client.get(state.client_order_id)
        if order is not None and not _unchanged(order, state):
            order_apply_state(order=order, state=state)
            applied += 1
    return applied
