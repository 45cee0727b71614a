"""The order lifecycle, one module per stage: placing, submitting, applying broker state, cancelling.

An order is stored `pending` and submitted by a Celery task after commit. Before the broker is
called it is marked `unknown` (in flight); a lost response or a crashed worker therefore leaves
`unknown`, resolved by asking the broker (as its client-id deduplication allows) before anything
is sent again. What the broker says afterwards (a submit's answer, a pushed update, a poll) is
applied in one place, which records fills by execution id and emits the trade events.
"""

from brokers.services.orders.applying import order_apply_state, order_updates_apply
from brokers.services.orders.brackets import brackets_watch
from brokers.services.orders.canceling import order_cancel, order_cancel_request
from brokers.services.orders.placing import order_enqueue_submit, order_place, order_request_build
from brokers.services.orders.polling import connection_orders_poll, order_refresh
from brokers.services.orders.submitting import order_give_up, order_submit

__all__ = [
    "brackets_watch",
    "connection_orders_poll",
    "order_apply_state",
    "order_cancel",
    "order_cancel_request",
    "order_enqueue_submit",
    "order_give_up",
    "order_place",
    "order_refresh",
    "order_request_build",
    "order_submit",
    "order_updates_apply",
]
