"""Submitting: send a stored order to its broker at most once.

Before the broker is called the order is marked `unknown` (in flight). A later attempt first asks
the broker whether the earlier one arrived, in the way the broker's client-id deduplication
allows (capability `client_id_dedup`): by client order id (among open and closed orders where the
broker only checks open ones), by the remark it travelled in, or, where the broker keeps no id of
ours, by matching the account's recent orders; in that last case an order whose outcome is
unknown is never sent again. A per-order Redis lock keeps two workers from submitting at once.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from brokers.adapters.base import (
    AuthenticationFailed,
    BrokerError,
    OrderRequest,
    OrderState,
    OrderStatus,
    RateLimited,
)
from brokers.adapters.registry import get_spec
from brokers.models import Order, OrderLeg
from brokers.services.orders.applying import order_apply_state, order_fail, order_settled_after_commit
from brokers.services.orders.brackets import as_triggered
from brokers.services.orders.requests import order_request
from brokers.sessions import LimitedAdapter, broker_session
from config.redis import get_redis

logger = logging.getLogger(__name__)

SUBMIT_LOCK_SECONDS = 120
SUBMIT_WAIT_SECONDS = 5.0
# How far before our own record a broker's record of the same order may be stamped (clock skew).
MATCH_SKEW = timedelta(minutes=2)


def order_submit(*, order_id: str) -> Order | None:
    """Send a stored order to its broker, at most once; returns it when this attempt talked to the broker.

    Raises TemporaryBrokerErrors for a retry.
    """
    lock = get_redis().lock(f"tw:order-submit:{order_id}", timeout=SUBMIT_LOCK_SECONDS, blocking_timeout=0)
    if not lock.acquire(blocking=False):
        return None  # another worker is submitting it right now
    try:
        order = _claim(order_id)
        if order is not None:
            _submit(order)
        return order
    finally:
        lock.release()


def _claim(order_id: str) -> Order | None:
    """Mark the order in flight when this attempt should talk to the broker; the order with its connection."""
    # The common case in one conditional UPDATE (atomic on its own: no transaction, no row read first).
    claimable = (
        Order.objects.filter(pk=order_id, status__in=[OrderStatus.PENDING, OrderStatus.UNKNOWN], held=False)
        .exclude(connection=None)
        .exclude(leg__gt="", bracket="native")
        .exclude(cancel_requested=True, status=OrderStatus.PENDING)
    )
    claimed = claimable.update(
        status=OrderStatus.UNKNOWN, submit_attempts=F("submit_attempts") + 1, updated_at=timezone.now()
    )
    if claimed:
        return Order.objects.select_related("connection").get(pk=order_id)
    return _claim_otherwise(order_id)


def _claim_otherwise(order_id: str) -> Order | None:
    """Every other case, decided under the row lock: gone, done, held, disconnected or cancelled."""
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None or order.status not in {OrderStatus.PENDING, OrderStatus.UNKNOWN}:
            return None
        if (order.leg and order.bracket == "native") or order.held:
            return None  # the broker placed it with its entry, or we hold it until its stop is reached
        if order.connection_id is None:
            order_fail(order, code="broker_unavailable", message="The broker was disconnected before submission.")
            return None
        if order.cancel_requested and order.status == OrderStatus.PENDING:
            order.status = OrderStatus.CANCELED
            order.save(update_fields=["status", "updated_at"])
            order_settled_after_commit(order, OrderStatus.PENDING)
            return None
        order.submit_attempts += 1
        order.status = OrderStatus.UNKNOWN
        order.save(update_fields=["submit_attempts", "status", "updated_at"])
        return order


def _submit(order: Order) -> None:
    connection = order.connection
    if connection is None:  # _claim failed disconnected orders already
        return
    request = _as_sent(order)
    try:
        with broker_session(connection, wait=SUBMIT_WAIT_SECONDS) as adapter:
            # An earlier attempt may have reached the broker and lost its answer: ask first.
            state = _earlier_attempt(adapter, order, request) if order.submit_attempts > 1 else None
            if state is None and _must_not_resend(order):
                return  # the broker keeps no id of ours: it stays unknown until a match is found
            if state is None and order.cancel_requested:
                Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELED)
                order.status = OrderStatus.CANCELED
                order_settled_after_commit(order, OrderStatus.UNKNOWN)
                return  # canceled while its first attempt's outcome was unknown, and it never arrived
            state = state or adapter.place_order(request)
    except BrokerError as exc:
        _submit_failed(order, exc)
        if exc.temporary:
            raise
        return
    order_apply_state(order=order, state=state)


def _as_sent(order: Order) -> OrderRequest:
    """What the broker receives: an emulated bracket's entry goes without its exit legs (we place those),
    and its released stop-loss as the order its reached stop makes it."""
    request = order_request(order)
    if order.bracket != "emulated":
        return request
    if order.leg == OrderLeg.STOP_LOSS:
        return as_triggered(request)
    return replace(request, take_profit_limit_price=None, stop_loss_stop_price=None, stop_loss_limit_price=None)


def _earlier_attempt(adapter: LimitedAdapter, order: Order, request: OrderRequest) -> OrderState | None:
    if get_spec(order.broker).capabilities.client_id_dedup == "none":
        state: OrderState | None = adapter.match_recent_order(request, since=order.created_at - MATCH_SKEW)
        return state
    found: OrderState | None = adapter.find_order(order.client_order_id)
    return found


def _must_not_resend(order: Order) -> bool:
    return order.submit_attempts > 1 and get_spec(order.broker).capabilities.client_id_dedup == "none"


def _submit_failed(order: Order, exc: BrokerError) -> None:
    if isinstance(exc, RateLimited):
        # Nothing reached the broker (our limiter or its 429): back to pending for the retry.
        Order.objects.filter(pk=order.pk).update(status=OrderStatus.PENDING)
    elif not exc.temporary:
        status = OrderStatus.FAILED if isinstance(exc, AuthenticationFailed) else OrderStatus.REJECTED
        order_fail(order, code=exc.code, message=exc.message, status=status)
    # Otherwise (unavailable, timeout) it stays `unknown` until a retry or the sweep learns the outcome.


def order_give_up(*, order_id: str, message: str) -> None:
    """After the last retry: a pending order (never sent) fails; an unknown one waits for the sweep."""
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id, status=OrderStatus.PENDING).first()
        if order is not None:
            order_fail(order, code="broker_unavailable", message=message)
