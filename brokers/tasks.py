"""Celery tasks that talk to brokers. Each takes ids, calls one service, and declares its retries.

Only temporary broker errors are retried (`autoretry_for`), with exponential backoff and full
jitter (`retry_backoff`, `retry_jitter`); a broker's own retry-after is honoured when it is longer.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from brokers.adapters.base import BrokerError, OrderStatus, TemporaryBrokerError
from brokers.adapters.registry import BROKERS, get_spec
from brokers.models import BalanceSnapshot, BrokerConnection, ConnectionStatus, Order
from brokers.services import orders as order_services
from brokers.services.connections import connection_refresh
from brokers.services.instruments import instruments_refresh as broker_instruments_refresh
from config.redis import get_redis

logger = logging.getLogger(__name__)

MAX_SUBMIT_RETRIES = 6
# After orders change an account its balance and positions are read again (two calls in its query
# bucket): at once when none was read for a while, otherwise once the current window ends, so one
# refresh covers every change in between and refreshes take at most REFRESH_SHARE of the account's
# query limit however fast it trades (a refresh after every order took two of Alpaca's 200
# calls/min per order, and the limiter then held the orders back).
REFRESH_CALLS = 2
REFRESH_SHARE = 0.1
REFRESH_MIN_SECONDS = 1.0
REFRESH_SLACK_SECONDS = 60
# KEYS: the connection's pending refresh, its last refresh's window. ARGV: the pending key's life (ms).
# Returns -1 (a refresh is already due: it covers this change), else ms until the window ends (0: now).
_REFRESH_DUE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return -1 end
return math.max(redis.call('PTTL', KEYS[2]), 0)
"""
RECONCILE_AFTER = timedelta(seconds=60)
SNAPSHOT_RETENTION = timedelta(days=7)
RECONCILE_BATCH = 500
RETRIES: dict[str, Any] = {
    "autoretry_for": (TemporaryBrokerError,),
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": MAX_SUBMIT_RETRIES,
}


class BrokerTask(Task):
    """Honours a broker's retry-after: a RateLimited retry waits at least as long as the broker asked."""

    def retry(self, *args: Any, exc: BaseException | None = None, countdown: float | None = None, **kwargs: Any):
        wanted = getattr(exc, "retry_after", None)
        if wanted and (countdown is None or countdown < wanted):
            countdown = wanted
        return super().retry(*args, exc=exc, countdown=countdown, **kwargs)


class SubmitTask(BrokerTask):
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Retries exhausted: a never-sent order fails; an unknown one waits for the sweep.
        if isinstance(exc, BrokerError):
            order_services.order_give_up(order_id=args[0], message=exc.message)


@shared_task(base=SubmitTask, bind=True, acks_late=True, **RETRIES)
def order_submit_task(self: Task, order_id: str) -> None:
    order = order_services.order_submit(order_id=order_id)
    if order is not None and order.connection_id:
        connection_refresh_soon(order.connection_id, order.broker)


def connection_refresh_soon(connection_id: int, broker: str = "") -> None:
    """Queue a refresh of the connection's balance and positions, throttled per connection (REFRESH_SHARE)."""
    window = _refresh_window(broker or _broker_of(connection_id))
    keys = [f"tw:refresh-due:{connection_id}", f"tw:refresh-window:{connection_id}"]
    try:
        wait_ms = int(get_redis().eval(_REFRESH_DUE, 2, *keys, int((window + REFRESH_SLACK_SECONDS) * 1000)))
    except Exception:  # Redis away: refresh now, as before the throttle
        logger.warning("refresh throttle unavailable for connection %s", connection_id, exc_info=True)
        wait_ms = 0
    if wait_ms >= 0:
        countdown = wait_ms / 1000
        connection_refresh_task.apply_async((connection_id,), countdown=countdown, expires=countdown + 60)


def _broker_of(connection_id: int) -> str:
    return BrokerConnection.objects.filter(pk=connection_id).values_list("broker", flat=True).first() or ""


def _refresh_window(broker: str) -> float:
    """Seconds between two refreshes of one connection: REFRESH_CALLS at the broker's query pace, / REFRESH_SHARE."""
    if broker not in BROKERS:
        return REFRESH_MIN_SECONDS
    limit = get_spec(broker).capabilities.rate_limits.for_kind("queries")
    return max(REFRESH_MIN_SECONDS, REFRESH_CALLS * limit.per_seconds / limit.requests / REFRESH_SHARE)


@shared_task(base=BrokerTask, bind=True, acks_late=True, **RETRIES)
def order_cancel_task(self: Task, order_id: str) -> None:
    order_services.order_cancel(order_id=order_id)


@shared_task(acks_late=True, expires=60)
def connection_refresh_task(connection_id: int) -> None:
    connection = BrokerConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return
    window_ms = int(_refresh_window(connection.broker) * 1000)
    with contextlib.suppress(Exception):  # only the throttle's bookkeeping: the refresh goes on
        # From here a change queues another refresh (this one may read the broker before it),
        # after this refresh's window.
        get_redis().pipeline().delete(f"tw:refresh-due:{connection_id}").set(
            f"tw:refresh-window:{connection_id}", 1, px=window_ms
        ).execute()
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
    """The paper broker's market: fill resting orders, then report the changes as a streaming broker would."""
    from brokers.adapters.paper import match_open_orders
    from brokers.adapters.paper.faults import duplicate_reports

    changes = match_open_orders()
    if get_spec("paper").capabilities.order_updates != "stream":
        return sum(len(states) for states in changes.values())  # told to be polled instead
    connections = dict(
        BrokerConnection.objects.filter(broker="paper", user_id__in=changes).values_list("user_id", "pk")
    )
    repeats = 2 if duplicate_reports() else 1  # an armed fault: every report arrives twice
    for user_id, states in changes.items():
        if user_id in connections:
            order_services.order_updates_apply(connection_id=connections[user_id], states=states * repeats)
            connection_refresh_soon(connections[user_id], "paper")
    return sum(len(states) for states in changes.values())


@shared_task(expires=2)
def orders_poll() -> int:
    """Queue a poll of each connection with open orders at a polled broker, at most once per its `poll_seconds`."""
    polled = [key for key, spec in BROKERS.items() if spec.capabilities.order_updates == "poll"]
    ids = set(
        Order.objects.filter(broker__in=polled, status__in=[OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED])
        .exclude(connection=None)
        .values_list("connection_id", "broker")
    )
    queued = 0
    redis = get_redis()
    for connection_id, broker in ids:
        every_ms = int(get_spec(broker).capabilities.poll_seconds * 1000)
        if redis.set(f"tw:orders-poll:{connection_id}", 1, nx=True, px=every_ms):
            connection_orders_poll_task.apply_async((connection_id,), expires=every_ms / 1000)
            queued += 1
    return queued


@shared_task(expires=2)
def brackets_watch() -> int:
    """Compare every held stop-loss with the market (per connection, one batched quote call); send those reached."""
    ids = set(Order.objects.filter(held=True, status=OrderStatus.PENDING).values_list("connection_id", flat=True))
    fired = 0
    for connection in BrokerConnection.objects.filter(pk__in=ids):
        try:
            fired += len(order_services.brackets_watch(connection=connection))
        except BrokerError as exc:
            logger.info("stop-loss watch of connection %s failed: %s", connection.pk, exc.code)
    return fired


@shared_task(acks_late=True)
def connection_orders_poll_task(connection_id: int) -> None:
    try:
        applied = order_services.connection_orders_poll(connection_id=connection_id)
    except BrokerError as exc:
        logger.info("order poll of connection %s failed: %s", connection_id, exc.code)
        return
    if applied:  # fills and cancels change the balance and positions
        connection_refresh_soon(connection_id)


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
    unsent = Order.objects.filter(status__in=[OrderStatus.PENDING, OrderStatus.UNKNOWN], held=False).exclude(
        leg__gt="", bracket="native"
    )
    work = [
        (order_submit_task, _stale_ids(unsent)),
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


@shared_task(expires=600)
def oauth_expiry_check() -> int:
    """Turn OAuth connections whose login is about to end `pending_authorization`, and tell their users."""
    from brokers.services.oauth import oauth_refresh_expiring
    from brokers.services.portfolio import portfolio_changed

    changed = oauth_refresh_expiring()
    for user_id in set(BrokerConnection.objects.filter(pk__in=changed).values_list("user_id", flat=True)):
        portfolio_changed(user_id=user_id)
    return len(changed)


@shared_task(expires=3600)
def instruments_refresh() -> int:
    """Reload every broker's instrument list (daily)."""
    total = 0
    for broker in BROKERS:
        try:
            total += broker_instruments_refresh(broker=broker)
        except BrokerError as exc:
            logger.info("instrument refresh of %s failed: %s", broker, exc.code)
    return total
