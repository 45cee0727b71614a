"""Cancelling: at once for an order that never left us, otherwise through the broker."""

from __future__ import annotations

import logging
import uuid

from django.db import transaction

from brokers.adapters.base import BrokerError, OrderStatus
from brokers.models import Order
from brokers.services.orders.applying import order_apply_state, order_settled_after_commit
from brokers.services.orders.submitting import SUBMIT_WAIT_SECONDS
from brokers.sessions import broker_session
from config.domain import Conflict

logger = logging.getLogger(__name__)


def order_cancel_request(*, order: Order) -> Order:
    """Cancel an open order: at once if it never left us, otherwise through the broker (Conflict if closed)."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if not OrderStatus(order.status).is_open:
            raise Conflict(f"The order is already {order.status}.", code="order_not_open")
        order.cancel_requested = True
        status_before = order.status
        if order.status == OrderStatus.PENDING:
            order.status = OrderStatus.CANCELED
        order.save(update_fields=["cancel_requested", "status", "updated_at"])
        order_settled_after_commit(order, status_before)
        if order.status != OrderStatus.CANCELED:
            transaction.on_commit(lambda: _enqueue_cancel(order.pk))
    return order


def _enqueue_cancel(order_id: uuid.UUID) -> None:
    from brokers.tasks import order_cancel_task

    try:
        order_cancel_task.delay(str(order_id))
    except Exception:  # the queue is away: the reconcile sweep re-sends requested cancels
        logger.warning("could not queue the cancel of %s; the reconcile sweep will", order_id, exc_info=True)


def order_cancel(*, order_id: str) -> None:
    """Ask the broker to cancel; the broker's answer is applied like any other state."""
    order = Order.objects.select_related("connection").get(pk=order_id)
    if not OrderStatus(order.status).is_open or order.connection is None:
        return
    with broker_session(order.connection, wait=SUBMIT_WAIT_SECONDS) as adapter:
        broker_id = order.broker_order_id
        if not broker_id:
            found = adapter.find_order(order.client_order_id)
            broker_id = found.broker_order_id if found else ""
        try:
            state = adapter.cancel_order(broker_id) if broker_id else None
        except BrokerError as exc:
            if exc.temporary or not broker_id:
                raise
            state = adapter.get_order(broker_id)  # e.g. it filled first: record what it became
    if state is not None:
        order_apply_state(order=order, state=state)
