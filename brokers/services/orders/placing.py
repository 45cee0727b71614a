"""Placing: check an order against the broker's capabilities and the instrument, store it, queue its submission."""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import replace
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import User
from brokers.adapters.base import ORDER_FIELDS, BrokerError, OrderRequest, OrderType
from brokers.adapters.capabilities import Capabilities
from brokers.adapters.registry import get_spec
from brokers.models import BrokerConnection, Order
from brokers.services.instruments import instrument_check, instrument_get
from brokers.services.killswitch import kill_switch_order_check
from config.domain import Conflict, DomainError, InvalidInput

logger = logging.getLogger(__name__)


def order_request_build(*, broker: str, client_order_id: str | None, **values: Any) -> OrderRequest:
    """An order from plain values; no client order id makes a fresh one, no time in force takes the broker's first."""
    if values.get("time_in_force") is None:
        values["time_in_force"] = get_spec(broker).capabilities.time_in_force_for(OrderType(values["type"]))[0]
    return OrderRequest.of(client_order_id=client_order_id or uuid.uuid4().hex, **values)


def order_place(
    *, user: User, connection: BrokerConnection, request: OrderRequest, queue: bool = True
) -> tuple[Order, bool]:
    """Store the order and queue its submission (unless `queue` is False: the caller submits it
    itself, and the reconcile sweep does if it never does). Returns (order, created).

    A retry with the same client order id and the same order returns the first order
    (created=False); the same id with a different order is a Conflict (`duplicate_order`).
    Raises InvalidInput (naming the field) for what the broker or the instrument cannot take,
    InvalidSymbol for a symbol the broker does not list, Conflict (`kill_switch_engaged`) for an
    order that opens or grows a position while the user's kill switch is engaged.
    """
    # A retry is recognised by the unique (user, client order id) when its INSERT is refused, not by
    # a read before every order; a retry whose checks fail now (a kill switch engaged since) still
    # gets its first order back.
    fingerprint = request.fingerprint(connection.broker)
    capabilities = get_spec(connection.broker).capabilities
    try:
        capabilities_check(capabilities=capabilities, request=request, broker_name=get_spec(connection.broker).name)
        instrument = instrument_get(connection=connection, symbol=request.symbol)
        request = replace(request, symbol=instrument.symbol)
        instrument_check(instrument=instrument, request=request)
        kill_switch_order_check(user=user, connection=connection, request=request)
    except (DomainError, BrokerError):
        existing = Order.objects.filter(user=user, client_order_id=request.client_order_id).first()
        if existing is None:
            raise
        return _same_order(existing, fingerprint), False
    fields = {name: getattr(request, name) for name in ORDER_FIELDS}
    try:
        # Inside a caller's transaction a savepoint keeps a refused INSERT from breaking it; on its
        # own the INSERT is its own transaction (autocommit), and the submission is queued at once.
        with transaction.atomic() if transaction.get_connection().in_atomic_block else contextlib.nullcontext():
            order = Order.objects.create(
                user=user,
                connection=connection,
                broker=connection.broker,
                client_order_id=request.client_order_id,
                request_fingerprint=fingerprint,
                bracket=capabilities.bracket if request.has_bracket else "",
                **fields,
            )
    except IntegrityError:  # the same client order id: a retry, or a concurrent one
        existing = Order.objects.get(user=user, client_order_id=request.client_order_id)
        return _same_order(existing, fingerprint), False
    if queue:
        order_enqueue_submit(order)
    return order, True


def capabilities_check(*, capabilities: Capabilities, request: OrderRequest, broker_name: str) -> None:
    """Refuse an order type, time in force or bracket the broker does not take, naming the field."""
    if request.type not in capabilities.order_types:
        allowed = ", ".join(t.value for t in capabilities.order_types)
        raise InvalidInput.field(
            "type", f"Choose one of: {allowed}.", summary=f"{broker_name} does not take {request.type} orders."
        )
    allowed_tif = capabilities.time_in_force_for(request.type)
    if request.time_in_force not in allowed_tif:
        allowed = ", ".join(t.value for t in allowed_tif)
        kind = f"{request.type} " if allowed_tif != capabilities.time_in_force else ""
        message = f"{broker_name} does not take {request.time_in_force} {kind}orders."
        raise InvalidInput.field("time_in_force", f"Choose one of: {allowed}.", summary=message)
    if request.has_bracket and capabilities.bracket == "none":
        message = f"{broker_name} has no take-profit/stop-loss orders."
        raise InvalidInput.field("take_profit", "Not supported by this broker.", summary=message)
    if request.has_bracket and capabilities.bracket_legs == "both":
        exits = {"take_profit": request.take_profit_limit_price, "stop_loss": request.stop_loss_stop_price}
        missing = next((name for name, price in exits.items() if price is None), None)
        if missing is not None:
            message = f"{broker_name} takes a take-profit and a stop-loss together, not one alone."
            raise InvalidInput.field(missing, "Add this exit too, or neither.", summary=message)
    if request.stop_loss_limit_price is not None and not capabilities.stop_loss_limit:
        message = f"{broker_name} sets the stop-loss limit price itself."
        raise InvalidInput.field("stop_loss", "Leave its limit price out.", summary=message)


def _same_order(order: Order, fingerprint: str) -> Order:
    if order.request_fingerprint != fingerprint:
        message = f"client_order_id {order.client_order_id!r} was already used for a different order."
        raise Conflict(message, code="duplicate_order")
    return order


def order_enqueue_submit(order: Order) -> None:
    """Queue the order's submission once the transaction that stored it commits."""
    transaction.on_commit(lambda: _enqueue_submit(order.pk))


def _enqueue_submit(order_id: uuid.UUID) -> None:
    from brokers.tasks import order_submit_task

    try:
        order_submit_task.delay(str(order_id))
    except Exception:  # the broker queue is away: the reconcile sweep submits pending orders
        logger.warning("could not queue order %s; the reconcile sweep will submit it", order_id, exc_info=True)
