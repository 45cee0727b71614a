"""The Celery app, its beat schedule and the worker heartbeat that /health reads."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from typing import Any

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tradewire")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Task priorities (Redis serves 0 first). A worker takes the most urgent waiting task, so an order
# or a bot signal never queues behind bookkeeping (balance refreshes, sweeps), which grows with the
# number of connections. Routes, not task attributes (deprecated); the first matching pattern wins.
URGENT, PROMPT, ROUTINE = 0, 3, 6
app.conf.task_routes = {
    # orders, cancels, bot signals and the kill switch
    "brokers.tasks.order_submit_task": {"priority": URGENT},
    "brokers.tasks.order_cancel_task": {"priority": URGENT},
    "bots.tasks.signals_sweep": {"priority": PROMPT},
    "bots.tasks.*": {"priority": URGENT},
    # what delivers fills and prices
    "brokers.tasks.paper_match": {"priority": PROMPT},
    "brokers.tasks.orders_poll": {"priority": PROMPT},
    "brokers.tasks.connection_orders_poll_task": {"priority": PROMPT},
    "brokers.tasks.order_refresh_task": {"priority": PROMPT},
    "brokers.tasks.brackets_watch": {"priority": PROMPT},
    "watchlist.tasks.quotes_poll": {"priority": PROMPT},
    "*": {"priority": ROUTINE},
}

WORKERS_KEY = "tw:celery:workers"
HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TTL_SECONDS = 15.0
_stop = threading.Event()


def _beat(name: str) -> None:
    from config.redis import get_redis

    while not _stop.is_set():
        # Redis may be briefly away; the next beat retries.
        with contextlib.suppress(Exception):
            get_redis().zadd(WORKERS_KEY, {name: time.time()})
        _stop.wait(HEARTBEAT_SECONDS)


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    name = getattr(sender, "hostname", None) or f"{socket.gethostname()}:{os.getpid()}"
    _stop.clear()  # a worker restarted in the same process beats again
    threading.Thread(target=_beat, args=(name,), daemon=True, name="tw-heartbeat").start()


@worker_shutdown.connect
def _stop_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    _stop.set()
