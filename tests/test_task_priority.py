"""Task priorities over the real Redis broker: an order queued behind bookkeeping is taken first."""

from __future__ import annotations

import pytest

from bots.tasks import signals_drain_task
from brokers.tasks import connection_refresh_task, order_submit_task, orders_poll
from config.celery import app


def _next_task_names(count: int) -> list[str]:
    """The names of the next `count` tasks a worker would take from the default queue (then acked)."""
    names: list[str] = []
    with app.connection_for_read() as connection:
        queue = app.amqp.queues[app.conf.task_default_queue]

        def take(body: object, message) -> None:
            names.append(message.headers["task"])
            message.ack()

        with connection.Consumer(queue, callbacks=[take], accept=["json"], prefetch_count=1):
            while len(names) < count:
                connection.drain_events(timeout=5)
    return names


@pytest.mark.django_db
def test_orders_and_signals_overtake_queued_bookkeeping():
    for connection_id in range(20):  # a balance poll's worth of refreshes, queued first
        connection_refresh_task.delay(connection_id)
    orders_poll.delay()
    order_submit_task.delay("00000000-0000-0000-0000-000000000000")
    signals_drain_task.delay(0)
    taken = _next_task_names(3)
    assert taken[:2] == [signals_drain_task.name, order_submit_task.name] or taken[:2] == [
        order_submit_task.name,
        signals_drain_task.name,
    ]
    assert taken[2] == orders_poll.name  # fills before refreshes
