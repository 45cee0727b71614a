"""The order lifecycle: validate and store, submit exactly once, apply what the broker says.

An order is stored `pending` and submitted by a Celery task after commit. Before the broker
is called the order is marked `unknown` (in flight); a lost response or a crashed worker
therefore leaves `unknown`, which is resolved by asking the broker for the client order id
before anything is placed again. A per-order Redis lock keeps two workers from submitting
the same order at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import asdict, dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction

from accounts.models import User
from brokers.adapters.base import (
    BrokerError,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from brokers.adapters.registry import get_spec
from brokers.client import adapter_for
from brokers.models import BrokerConnection, Order
from config.errors import ApiError
from config.redis import get_redis
from realtime import events
from realtime.publish import publish_to_user

logger = logging.getLogger(__name__)

SUBMIT_LOCK_SECONDS = 120
SUBMIT_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class OrderInput:
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    time_in_force: TimeInForce = TimeInForce.DAY
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    take_profit_limit_price: Decimal | None = None
    stop_loss_stop_price: Decimal | None = None
    stop_loss_limit_price: Decimal | None = None

    def fingerprint(self, broker: str) -> str:
        """Same order, same fingerprint: how a retry is told from a different order."""
        fields = {k: str(v) if v is not None else None for k, v in asdict(self).items()}
        return hashlib.sha256(json.dumps({"broker": broker, **fields}, sort_keys=True).encode()).hexdigest()


# --- placing ----------------------------------------------------------------------------


def _check_capabilities(*, broker: str, data: OrderInput) -> None:
    spec = get_spec(broker)
    if data.type not in spec.order_types:
        allowed = ", ".join(t.value for t in spec.order_types)
        raise ApiError(
            400,
            "invalid",
            f"{spec.name} does not take {data.type} orders.",
            fields={"type": [f"Choose one of: {allowed}."]},
        )
    has_bracket = data.take_profit_limit_price is not None or data.stop_loss_stop_price is not None
    if has_bracket and spec.bracket == "none":
        raise ApiError(
            400,
            "invalid",
            f"{spec.name} has no take-profit/stop-loss orders.",
            fields={"take_profit": ["Not supported by this broker."]},
        )


def _validate_symbol(*, connection: BrokerConnection, symbol: str) -> str:
    adapter = adapter_for(connection, wait=SUBMIT_WAIT_SECONDS)
    try:
        return adapter.validate_symbol(symbol)
    except BrokerError as exc:
        if exc.code == "invalid_symbol":
            raise ApiError(400, "invalid", exc.message, fields={"symbol": [exc.message]}) from None
        from brokers.services.connections import broker_error_response

        raise broker_error_response(exc) from None
    finally:
        adapter.close()


def _existing(*, user: User, client_order_id: str, fingerprint: str) -> Order:
    order = Order.objects.get(user=user, client_order_id=client_order_id)
    if order.request_fingerprint != fingerprint:
        raise ApiError(
            409, "duplicate_order", f"client_order_id {client_order_id!r} was already used for a different order."
        )
    return order


def order_place(
    *, user: User, connection: BrokerConnection, data: OrderInput, client_order_id: str | None
) -> tuple[Order, bool]:
    """Store the order and queue its submission. Returns (order, created).

    A retry with the same client order id and the same order returns the first order
    (created=False); the same id with a different order is a 409.
    """
    client_order_id = client_order_id or uuid.uuid4().hex
    fingerprint = data.fingerprint(connection.broker)
    if Order.objects.filter(user=user, client_order_id=client_order_id).exists():
        return _existing(user=user, client_order_id=client_order_id, fingerprint=fingerprint), False
    _check_capabilities(broker=connection.broker, data=data)
    symbol = _validate_symbol(connection=connection, symbol=data.symbol)
    fields = {**asdict(data), "symbol": symbol}
    try:
        with transaction.atomic():
            order = Order.objects.create(
                user=user,
                connection=connection,
                broker=connection.broker,
                client_order_id=client_order_id,
                request_fingerprint=fingerprint,
                **fields,
            )
            transaction.on_commit(lambda: _enqueue_submit(order.pk))
    except IntegrityError:  # the same id raced in from a concurrent retry
        return _existing(user=user, client_order_id=client_order_id, fingerprint=fingerprint), False
    return order, True


def _enqueue_submit(order_id: uuid.UUID) -> None:
    from brokers.tasks import order_submit_task

    try:
        order_submit_task.delay(str(order_id))
    except Exception:  # the broker queue is away: the reconcile sweep submits pending orders
        logger.warning("could not queue order %s; the reconcile sweep will submit it", order_id, exc_info=True)


def _request(order: Order) -> OrderRequest:
    return OrderRequest(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=Side(order.side),
        type=OrderType(order.type),
        qty=order.qty,
        time_in_force=TimeInForce(order.time_in_force),
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        take_profit_limit_price=order.take_profit_limit_price,
        stop_loss_stop_price=order.stop_loss_stop_price,
        stop_loss_limit_price=order.stop_loss_limit_price,
    )


# --- submitting -------------------------------------------------------------------------


def _claim(order_id: str) -> Order | None:
    """Lock the row, decide whether this attempt should talk to the broker, mark it in flight."""
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None or order.status not in {OrderStatus.PENDING, OrderStatus.UNKNOWN}:
            return None
        if order.connection_id is None:
            _fail(order, code="broker_unavailable", message="The broker was disconnected before submission.")
            return None
        if order.cancel_requested and order.status == OrderStatus.PENDING:
            order.status = OrderStatus.CANCELED
            order.save(update_fields=["status", "updated_at"])
            return None
        order.submit_attempts += 1
        order.status = OrderStatus.UNKNOWN
        order.save(update_fields=["submit_attempts", "status", "updated_at"])
        return order


def order_submit(*, order_id: str) -> None:
    """Send a stored order to its broker, at most once. Raises temporary BrokerErrors for a retry."""
    lock = get_redis().lock(f"tw:order-submit:{order_id}", timeout=SUBMIT_LOCK_SECONDS, blocking_timeout=0)
    if not lock.acquire(blocking=False):
        return  # another worker is submitting it right now
    try:
        order = _claim(order_id)
        if order is not None:
            _submit(order)
    finally:
        lock.release()


def _submit(order: Order) -> None:
    connection = order.connection
    if connection is None:  # _claim has failed disconnected orders already
        return
    adapter = adapter_for(connection, wait=SUBMIT_WAIT_SECONDS)
    try:
        # An earlier attempt may have reached the broker and lost its answer: ask first.
        state = adapter.find_order(order.client_order_id) if order.submit_attempts > 1 else None
        if state is None and order.cancel_requested:
            Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELED)
            return  # canceled while its first attempt's outcome was unknown, and it never arrived
        state = state or adapter.place_order(_request(order))
    except BrokerError as exc:
        _submit_failed(order, exc)
        if exc.temporary:
            raise
        return
    finally:
        adapter.close()
    order_apply_state(order=order, state=state)


def _submit_failed(order: Order, exc: BrokerError) -> None:
    if exc.code == "rate_limited":
        # Nothing reached the broker (our limiter or its 429): back to pending for the retry.
        Order.objects.filter(pk=order.pk).update(status=OrderStatus.PENDING)
    elif not exc.temporary:
        status = OrderStatus.FAILED if exc.code == "broker_auth_failed" else OrderStatus.REJECTED
        _fail(order, code=exc.code, message=exc.message, status=status)
    # Otherwise (unavailable, timeout) it stays `unknown` until a retry or the sweep learns the outcome.


def order_give_up(*, order_id: str, message: str) -> None:
    """After the last retry: a pending order (never sent) fails; an unknown one waits for the sweep."""
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id, status=OrderStatus.PENDING).first()
        if order is not None:
            _fail(order, code="broker_unavailable", message=message)


def _fail(order: Order, *, code: str, message: str, status: OrderStatus = OrderStatus.FAILED) -> None:
    order.status = status
    order.error_code = code
    order.error_message = message[:500]
    order.save(update_fields=["status", "error_code", "error_message", "updated_at"])
    publish_to_user(order.user_id, events.TRADE_FAILED, events.trade_failed(order))


# --- applying the broker's answer ----------------------------------------------------------


def order_apply_state(*, order: Order, state: OrderState) -> Order:
    """Record what the broker says about `order` and emit the trade events it implies."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if not OrderStatus(order.status).is_open and OrderStatus(state.status).is_open:
            return order  # a stale answer (e.g. the submit's reply after a fill was recorded)
        filled_before, status_before = order.filled_qty, order.status
        order.broker_order_id = state.broker_order_id or order.broker_order_id
        order.status = state.status
        order.filled_qty = max(state.filled_qty, order.filled_qty)  # a duplicate fill report never double counts
        order.avg_fill_price = state.avg_fill_price if state.avg_fill_price is not None else order.avg_fill_price
        order.fee = state.fee
        if state.status == OrderStatus.REJECTED:
            order.error_code, order.error_message = order.error_code or "order_rejected", state.reason[:500]
        order.save()
        if order.filled_qty > filled_before and order.status in {OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED}:
            publish_to_user(order.user_id, events.TRADE_EXECUTED, events.trade_executed(order))
        elif order.status == OrderStatus.REJECTED and status_before != OrderStatus.REJECTED:
            publish_to_user(order.user_id, events.TRADE_FAILED, events.trade_failed(order))
    return order


def order_sync_states(*, broker: str, states: list[OrderState]) -> int:
    """Apply broker-side changes (fills of resting orders, cancels) to our orders; returns how many."""
    by_id = {s.broker_order_id: s for s in states}
    orders = Order.objects.filter(broker=broker, broker_order_id__in=list(by_id))
    for order in orders:
        order_apply_state(order=order, state=by_id[order.broker_order_id])
    return len(orders)


def order_refresh(*, order_id: str) -> None:
    """Ask the broker for an open order's state: repairs a fill whose report was missed."""
    order = Order.objects.select_related("connection").get(pk=order_id)
    if not OrderStatus(order.status).is_open or order.connection is None or not order.broker_order_id:
        return
    adapter = adapter_for(order.connection)
    try:
        state = adapter.get_order(order.broker_order_id)
    finally:
        adapter.close()
    order_apply_state(order=order, state=state)


# --- canceling ---------------------------------------------------------------------------


def order_cancel_request(*, order: Order) -> Order:
    """Cancel an open order: at once if it never left us, otherwise through the broker."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if not OrderStatus(order.status).is_open:
            raise ApiError(409, "order_not_open", f"The order is already {order.status}.")
        order.cancel_requested = True
        if order.status == OrderStatus.PENDING:
            order.status = OrderStatus.CANCELED
        order.save(update_fields=["cancel_requested", "status", "updated_at"])
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
    adapter = adapter_for(order.connection, wait=SUBMIT_WAIT_SECONDS)
    try:
        broker_id = order.broker_order_id
        if not broker_id:
            found = adapter.find_order(order.client_order_id)
            broker_id = found.broker_order_id if found else ""
        state = adapter.cancel_order(broker_id) if broker_id else None
    except BrokerError as exc:
        if exc.temporary or not broker_id:
            raise
        state = adapter.get_order(broker_id)  # e.g. it filled first: record what it became
    finally:
        adapter.close()
    if state is not None:
        order_apply_state(order=order, state=state)
