"""An order as the broker receives it, from our stored row."""

from __future__ import annotations

from brokers.adapters.base import ORDER_FIELDS, OrderRequest
from brokers.models import Order


def order_request(order: Order) -> OrderRequest:
    return OrderRequest.of(
        client_order_id=order.client_order_id, **{name: getattr(order, name) for name in ORDER_FIELDS}
    )
