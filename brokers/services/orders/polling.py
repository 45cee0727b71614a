"""Polling: how order changes reach us from brokers that do not push them (capability `order_updates="poll"`).

Each connection with open orders at the broker is polled every `poll_seconds` (its capability,
within its query limit): its open orders in one call, then each of our open orders the broker no
longer lists (it filled or was cancelled meanwhile) one by one. The 60 s reconcile sweep uses
`order_refresh` for any order whose report was missed, whatever the broker's update path.
"""

from __future__ import annotations

from brokers.adapters.base import OPEN_STATUSES
from brokers.models import BrokerConnection, Order
from brokers.services.orders.applying import order_apply_state, order_updates_apply
from brokers.sessions import broker_session


def connection_orders_poll(*, connection_id: int) -> int:
    """Ask the broker about the connection's open orders and apply what changed; returns how many were applied."""
    connection = BrokerConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return 0
    ours = set(
        Order.objects.filter(connection=connection, status__in=OPEN_STATUSES)
        .exclude(broker_order_id="")
        .values_list("broker_order_id", flat=True)
    )
    if not ours:
        return 0
    with broker_session(connection) as adapter:
        states = [s for s in adapter.open_orders() if s.broker_order_id in ours]
        gone = ours - {s.broker_order_id for s in states}
        states += [adapter.get_order(broker_order_id) for broker_order_id in sorted(gone)]
    return order_updates_apply(connection_id=connection.pk, states=states)


def order_refresh(*, order_id: str) -> None:
    """Ask the broker for an open order's state: repairs a fill whose report was missed."""
    order = Order.objects.select_related("connection").get(pk=order_id)
    if order.status not in OPEN_STATUSES or order.connection is None or not order.broker_order_id:
        return
    with broker_session(order.connection) as adapter:
        state = adapter.get_order(order.broker_order_id)
    order_apply_state(order=order, state=state)
