"""Reads for the broker API: each user sees only their own rows; anything else is a 404."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from accounts.models import User
from brokers.adapters.base import OPEN_STATUSES
from brokers.adapters.registry import BROKERS, BrokerSpec, requires_premium
from brokers.gating import broker_disabled_reason, broker_enabled, broker_spec_or_404
from brokers.models import BalanceSnapshot, BrokerConnection, Order, PositionSnapshot
from config.domain import NotFound


def broker_supported_list() -> list[dict[str, Any]]:
    """The seven brokers as /api/brokers/supported lists them (aliases are not listed)."""
    return [
        {
            "key": spec.key,
            "name": spec.name,
            "asset_classes": list(spec.capabilities.asset_classes),
            "order_types": [t.value for t in spec.capabilities.order_types],
            "bracket": spec.capabilities.bracket,
            "paper_trading": spec.capabilities.paper_trading,
            "auth": spec.auth,
            "credential_fields": [asdict(f) for f in spec.credential_fields],
            # The limit on placing orders; `capabilities.rate_limits` has one per kind of call.
            "rate_limit": _rate_limit(spec),
            "capabilities": spec.capabilities.as_dict(),
            "enabled": broker_enabled(spec),
            "premium_required": requires_premium(spec),
            "docs_url": spec.docs_url,
            "short_name": spec.short_name or spec.name,
            "disabled_reason": broker_disabled_reason(spec),
        }
        for spec in BROKERS.values()
    ]


def _rate_limit(spec: BrokerSpec) -> dict[str, float]:
    limit = spec.capabilities.rate_limits.orders
    return {"requests": limit.requests, "per_seconds": limit.per_seconds}


def connection_get(*, user: User, broker: str) -> BrokerConnection:
    spec = broker_spec_or_404(broker)
    connection = BrokerConnection.objects.filter(user=user, broker=spec.key).first()
    if connection is None:
        raise NotFound(f"{spec.name} is not connected.")
    return connection


def connection_list(*, user: User) -> QuerySet[BrokerConnection]:
    return BrokerConnection.objects.filter(user=user).order_by("broker")


def balance_latest(*, connection: BrokerConnection) -> BalanceSnapshot | None:
    return BalanceSnapshot.objects.filter(connection=connection).order_by("-as_of").first()


def position_list(*, connection: BrokerConnection) -> QuerySet[PositionSnapshot]:
    return PositionSnapshot.objects.filter(connection=connection).order_by("symbol")


def order_list(*, user: User, broker: str, status: str) -> QuerySet[Order]:
    orders = Order.objects.filter(user=user, broker=broker).order_by("-created_at")
    if status == "open":
        return orders.filter(status__in=OPEN_STATUSES)
    if status == "closed":
        return orders.exclude(status__in=OPEN_STATUSES)
    return orders


def order_get(*, user: User, order_id: str) -> Order:
    try:
        order = Order.objects.filter(user=user, pk=order_id).first()
    except ValidationError:  # not a UUID
        order = None
    if order is None:
        raise NotFound("No such order.")
    return order
