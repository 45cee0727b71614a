"""Celery tasks that talk to brokers. Each takes ids, calls one service, declares its retries."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from brokers.adapters.base import BrokerError, OrderStatus
from brokers.models import BalanceSnapshot, BrokerConnection, ConnectionStatus, Order
from brokers.services import orders as order_services
from brokers.services.connections import connection_refresh

logger = logging.getLogger(__name__)

MAX_SUBMIT_RETRIES = 6
RECONCILE_AFTER = timedelta(seconds=60)
SNAPSHOT_RETENTION = timedelta(days=7)
RECONCILE_BATCH = 500


def _retry(task: Task, exc: BrokerError) -> Any:
    # Honour the broker's retry-after; otherwise exponential backoff with jitter.
    countdown = exc.retry_after or min(2**task.request.retries, 60)
    return task.retry(exc=exc, countdown=countdown, max_retries=MAX_SUBMIT_RETRIES)


@shared_task(bind=True, acks_late=True, max_retries=MAX_SUBMIT_RETRIES)
def order_submit_task(self: Task, order_id: str) -> None:
    try:
        order_services.order_submit(order_id=order_id)
    except BrokerError as exc:
        if self.request.retries >= MAX_SUBMIT_RETRIES:
            order_services.order_give_up(order_id=order_id, message=exc.message)
            return
        raise _retry(self, exc) from exc
    connection_id = Order.objects.filter(pk=order_id).values_list("connection_id", flat=True).first()
    if connection_id:
        connection_refresh_task.delay(connection_id)


@shared_task(bind=True, acks_late=True, max_retries=MAX_SUBMIT_RETRIES)
def order_cancel_task(self: Task, order_id: str) -> None:
    try:
        order_services.order_cancel(order_id=order_id)
    except BrokerError as exc:
        raise _retry(self, exc) from exc


@shared_task(acks_late=True, expires=60)
def connection_refresh_task(connection_id: int) -> None:
    connection = BrokerConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return
    try:
        connection_refresh(connection=connection)
    except BrokerError as exc:
        logger.info("refresh of connection %s failed: %s", connection_id, exc.code)


@shared_task(expires=settings.BALANCE_POLL_SECONDS)
def balances_poll() -> int:
    """Refresh every live connection's balance and positions (each within its rate limit)."""
    ids = list(
        BrokerConnection.objects.exclude(
            status__in=[ConnectionStatus.DISABLED, ConnectionStatus.PENDING_AUTHORIZATION]
        ).values_list("pk", flat=True)
    )
    for connection_id in ids:
        connection_refresh_task.apply_async((connection_id,), expires=settings.BALANCE_POLL_SECONDS)
    return len(ids)


@shared_task(expires=5)
def paper_match() -> int:
    """Let the paper market fill resting orders, then record the fills as ours."""
    from brokers.adapters.paper import match_open_orders

    states = match_open_orders()
    if not states:
        return 0
    order_services.order_sync_states(broker="paper", states=states)
    ids = {s.broker_order_id for s in states}
    for connection_id in set(
        Order.objects.filter(broker="paper", broker_order_id__in=ids).values_list("connection_id", flat=True)
    ):
        if connection_id:
            connection_refresh_task.delay(connection_id)
    return len(states)


@shared_task(acks_late=True, expires=60)
def order_refresh_task(order_id: str) -> None:
    try:
        order_services.order_refresh(order_id=order_id)
    except BrokerError as exc:
        logger.info("refresh of order %s failed: %s", order_id, exc.code)


def _stale_ids(queryset: Any) -> list[str]:
    cutoff = timezone.now() - RECONCILE_AFTER
    return [str(pk) for pk in queryset.filter(updated_at__lt=cutoff).values_list("pk", flat=True)[:RECONCILE_BATCH]]


@shared_task(expires=60)
def orders_reconcile() -> int:
    """Repair what a lost task, a dead worker or a missed report left behind.

    Orders never sent (or sent with no answer) are submitted again, which is at-most-once;
    requested cancels are re-sent; other open orders are re-read from the broker.
    """
    open_orders = Order.objects.filter(status__in=[OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED])
    work = [
        (order_submit_task, _stale_ids(Order.objects.filter(status__in=[OrderStatus.PENDING, OrderStatus.UNKNOWN]))),
        (order_cancel_task, _stale_ids(open_orders.filter(cancel_requested=True))),
        (order_refresh_task, _stale_ids(open_orders.filter(cancel_requested=False))),
    ]
    for task, ids in work:
        for order_id in ids:
            task.delay(order_id)
    return sum(len(ids) for _, ids in work)


@shared_task(expires=3600)
def snapshots_prune() -> int:
    deleted, _ = BalanceSnapshot.objects.filter(as_of__lt=timezone.now() - SNAPSHOT_RETENTION).delete()
    return deleted
