"""The kill switch, per user (CONTRACT.md): stop everything that opens risk, at once.

While engaged, `order_place` refuses any order that opens or grows a position (Conflict
`kill_switch_engaged`, for the API and bots alike) and lets orders that only reduce one through.
Engaging sends `brokers.signals.kill_switch_engaged` inside its transaction, so whatever places
orders for the user (bots) stops atomically with it. `kill_switch_flatten` cancels every open
order and closes every position on every connection. Releasing resumes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from accounts.models import User
from brokers.adapters.base import OPEN_STATUSES, BrokerError, OrderRequest, Position, Side
from brokers.models import BrokerConnection, KillSwitch, Order
from brokers.sessions import broker_session
from brokers.signals import kill_switch_engaged
from config.domain import Conflict, DomainError

logger = logging.getLogger(__name__)

# A person is waiting on an order refused or let through: wait briefly for a rate-limit slot.
POSITIONS_WAIT_SECONDS = 2.0


def kill_switch_get(*, user_id: int) -> KillSwitch:
    """The user's switch (an unsaved released one when it was never engaged)."""
    return KillSwitch.objects.filter(user_id=user_id).first() or KillSwitch(user_id=user_id)


def kill_switch_is_engaged(*, user_id: int) -> bool:
    return KillSwitch.objects.filter(user_id=user_id, engaged=True).exists()


def kill_switch_engage(*, user: User, flatten: bool = False) -> KillSwitch:
    """Engage (again): `since` keeps the first engagement; `flatten` asks for `kill_switch_flatten` too."""
    with transaction.atomic():
        switch, _ = KillSwitch.objects.select_for_update().get_or_create(user=user)
        if not switch.engaged:
            switch.engaged, switch.since = True, timezone.now()
        switch.flatten = switch.flatten or flatten
        switch.save()
        kill_switch_engaged.send(sender=KillSwitch, user_id=user.pk)
    return switch


def kill_switch_release(*, user: User) -> KillSwitch:
    """Release: orders that open positions are accepted again; nothing is restarted."""
    with transaction.atomic():
        switch, _ = KillSwitch.objects.select_for_update().get_or_create(user=user)
        switch.engaged, switch.since, switch.flatten = False, None, False
        switch.save()
    return switch


def kill_switch_order_check(*, user: User, connection: BrokerConnection, request: OrderRequest) -> None:
    """Refuse (Conflict `kill_switch_engaged`) an order that opens or grows a position while engaged.

    An order only reduces when it is on the other side of the broker's current position and,
    with the reducing orders already open (those not being cancelled), does not exceed it.
    When the broker cannot say what the position is, the order is refused: fail closed.
    """
    if not kill_switch_is_engaged(user_id=user.pk):
        return
    if not _reduces(connection, request):
        raise Conflict(
            "The kill switch is engaged: only orders that reduce a position are accepted.",
            code="kill_switch_engaged",
        )


def _reduces(connection: BrokerConnection, request: OrderRequest) -> bool:
    try:
        held = _position_qty(connection, request.symbol)
    except BrokerError as exc:
        logger.info("kill switch: positions of connection %s unavailable (%s); refusing", connection.pk, exc.code)
        return False
    if held == 0 or (held > 0) == (request.side == Side.BUY):
        return False
    return request.qty + _reducing_open(connection, request) <= abs(held)


def _position_qty(connection: BrokerConnection, symbol: str) -> Decimal:
    with broker_session(connection, wait=POSITIONS_WAIT_SECONDS) as adapter:
        positions: list[Position] = adapter.positions()
    return sum((p.qty for p in positions if p.symbol == symbol), Decimal(0))


def _reducing_open(connection: BrokerConnection, request: OrderRequest) -> Decimal:
    """What open orders on the same side as `request` (not being cancelled) still have to fill."""
    left = (
        Order.objects.filter(
            connection=connection,
            symbol=request.symbol,
            side=request.side,
            status__in=OPEN_STATUSES,
            cancel_requested=False,
        )
        .exclude(client_order_id=request.client_order_id)
        .aggregate(left=Sum(F("qty") - F("filled_qty")))["left"]
    )
    return left or Decimal(0)


@dataclass
class FlattenResult:
    canceled: int = 0
    closing: list[str] = field(default_factory=list)  # ids of the closing orders placed
    failures: list[str] = field(default_factory=list)  # connections whose positions could not be read


def kill_switch_flatten(*, user_id: int) -> FlattenResult:
    """Cancel every open order of the user, then close every position on every connection.

    Closing orders are market orders with a client order id derived from the engagement, so
    running this twice (a retried task) never closes twice.
    """
    from brokers.services.orders import order_cancel_request

    switch = kill_switch_get(user_id=user_id)
    result = FlattenResult()
    for order in Order.objects.filter(user_id=user_id, status__in=OPEN_STATUSES, cancel_requested=False):
        try:
            order_cancel_request(order=order)
            result.canceled += 1
        except Conflict:
            pass  # it closed meanwhile
    stamp = int((switch.since or timezone.now()).timestamp())
    for connection in BrokerConnection.objects.filter(user_id=user_id).select_related("user"):
        _connection_close_all(connection, stamp, result)
    return result


def _connection_close_all(connection: BrokerConnection, stamp: int, result: FlattenResult) -> None:
    from brokers.services.orders import order_place, order_request_build

    try:
        with broker_session(connection, wait=POSITIONS_WAIT_SECONDS) as adapter:
            positions: list[Position] = adapter.positions()
    except BrokerError as exc:
        logger.warning("kill switch flatten: positions of connection %s unavailable: %s", connection.pk, exc.code)
        result.failures.append(connection.broker)
        return
    for position in positions:
        if position.qty == 0:
            continue
        request = order_request_build(
            broker=connection.broker,
            client_order_id=f"ks-{stamp}-{connection.pk}-{position.symbol.replace('/', '-')}"[:64],
            symbol=position.symbol,
            side=Side.SELL if position.qty > 0 else Side.BUY,
            type="market",
            qty=abs(position.qty),
        )
        try:
            order, _ = order_place(user=connection.user, connection=connection, request=request)
        except (DomainError, BrokerError) as exc:
            logger.warning("kill switch flatten: closing %s on %s refused: %s", position.symbol, connection.pk, exc)
            result.failures.append(f"{connection.broker}:{position.symbol}")
            continue
        result.closing.append(str(order.pk))
