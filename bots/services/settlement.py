"""When a bot's order settles (brokers.signals.order_settled): its fills move the bot's position,
and once all of a signal's orders are done the signal becomes executed, partially executed or failed.

A bracket leg (take-profit, stop-loss) of a bot's entry is linked to the entry's signal when it
settles: its fills move the position like any other, but not the signal's status, which the
entry and exit legs alone decide. Each order is applied once (`SignalOrder.applied`).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from bots.models import Leg, Signal, SignalOrder, SignalStatus
from bots.services.events import signal_publish
from bots.services.risk import position_apply
from brokers.adapters.base import OPEN_STATUSES, OrderStatus
from brokers.models import Order

SIGNAL_LEGS = (Leg.ENTRY, Leg.EXIT)


def order_settle(*, order: Order) -> None:
    """Apply a settled order to the bot that placed it (nothing when no bot did)."""
    link_id = _link_id(order)
    if link_id is None:
        return
    with transaction.atomic():
        link = SignalOrder.objects.select_for_update().get(pk=link_id)
        if link.applied:
            return
        position_apply(link=link, order=order)
        SignalOrder.objects.filter(pk=link.pk).update(applied=True)
        if link.leg in SIGNAL_LEGS:
            signal_settle(signal_id=link.signal_id)


def _link_id(order: Order) -> int | None:
    found = SignalOrder.objects.filter(order_id=order.pk).values_list("pk", flat=True).first()
    if found is not None or order.parent_id is None or not order.leg:
        return found
    parent = SignalOrder.objects.filter(order_id=order.parent_id).first()
    if parent is None:
        return None
    link, _ = SignalOrder.objects.get_or_create(
        order=order,
        defaults={"signal_id": parent.signal_id, "bot_id": parent.bot_id, "target": parent.target, "leg": order.leg},
    )
    return link.pk


def signal_settle(*, signal_id: object) -> None:
    """Once none of the signal's orders is open: executed (all filled), partially executed or failed."""
    signal = Signal.objects.select_for_update(of=("self",)).select_related("bot").get(pk=signal_id)
    if signal.settled_at is not None or signal.status != SignalStatus.ACCEPTED:
        return
    links = list(SignalOrder.objects.filter(signal=signal).select_related("order").order_by("created_at"))
    orders = [link.order for link in links if link.leg in SIGNAL_LEGS]
    if not orders or any(order.status in OPEN_STATUSES for order in orders):
        return
    if all(order.status == OrderStatus.FILLED for order in orders):
        signal.status = SignalStatus.EXECUTED
    elif any(order.filled_qty > 0 for order in orders):
        signal.status = SignalStatus.PARTIALLY_EXECUTED
    else:
        signal.status = SignalStatus.FAILED
    signal.settled_at = timezone.now()
    signal.save(update_fields=["status", "settled_at"])
    signal_publish(signal, orders=_with_legs([link.order for link in links]))


def _with_legs(orders: list[Order]) -> list[Order]:
    """The orders and the bracket legs of those that have them (not all linked yet)."""
    known = {order.pk for order in orders}
    parents = [order.pk for order in orders if order.bracket]
    if not parents:
        return orders
    legs = Order.objects.filter(parent_id__in=parents).exclude(pk__in=known).order_by("created_at")
    return orders + list(legs)
