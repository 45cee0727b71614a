"""Fixtures for end-to-end tests: a real Celery worker and a listener on the real channel layer."""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun, task_prerun
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers, get_channel_layer
from django.db import connection
from django.utils.module_loading import import_string
from rest_framework.test import APIClient

from config.celery import app as celery_app
from realtime.publish import user_group
from tests.asyncio import run_async
from tests.dbturn import DB_TURN, db_turn

_STOP = "e2e.listener.stop"


def _task_starts(**kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        DB_TURN.acquire()


def _task_ends(**kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        DB_TURN.release()


class GatedAPIClient(APIClient):
    """DRF's test client, taking its turn at the database (see `db_turn`)."""

    def request(self, **kwargs: Any) -> Any:
        with db_turn():
            return super().request(**kwargs)


@contextlib.contextmanager
def celery_worker(*, pool: str = "solo", concurrency: int = 1) -> Iterator[Any]:
    """A real Celery worker in a thread of this process, consuming the real Redis broker.

    A thread (not a process) so it sees pytest-django's test database, including SQLite's
    in-memory one. Leaving the block stops it; unacknowledged messages go back to Redis.
    """
    import brokers.tasks  # noqa: F401  (the worker must know the tasks it consumes)

    assert not celery_app.conf.task_always_eager, "e2e tests need Celery to go through the broker"
    task_prerun.connect(_task_starts, weak=False)
    task_postrun.connect(_task_ends, weak=False)
    with contextlib.ExitStack() as stack:
        stack.callback(task_prerun.disconnect, _task_starts)
        stack.callback(task_postrun.disconnect, _task_ends)
        worker = stack.enter_context(
            start_worker(
                celery_app,
                pool=pool,
                concurrency=concurrency,
                perform_ping_check=False,
                loglevel="WARNING",
                shutdown_timeout=30,
            )
        )
        yield worker


@pytest.fixture
def not_eager():
    """Celery publishes to Redis in these tests, whatever another test module left behind."""
    celery_app.conf.task_always_eager = False
    yield


@pytest.fixture
def worker(not_eager):
    with celery_worker() as running:
        yield running


@dataclass(frozen=True)
class Received:
    at: float  # time.time() when the message came off the layer
    event: str
    data: dict[str, Any]
    ts: str


class UserEvents:
    """Everything the channel layer delivers to one user's group, collected by a listener thread.

    Stands in for the user's sockets: it joins `realtime.publish.user_group(user_id)` with a
    channel of its own, exactly as a consumer does, and records every `event.forward` message.
    """

    def __init__(self, user_id: int) -> None:
        self.group = user_group(user_id)
        self.channel = ""
        self._received: list[Received] = []
        self._changed = threading.Condition()
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="e2e-events")

    def __enter__(self) -> UserEvents:
        self._thread.start()
        if not self._ready.wait(10):
            raise AssertionError(f"could not join {self.group} on the channel layer: {self._failed!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        # A message, not a cancellation: cancelling a blocking receive can lose a popped message.
        async_to_sync(get_channel_layer().send)(self.channel, {"type": _STOP})
        self._thread.join(10)

    def _run(self) -> None:
        try:
            run_async(self._listen())
        except Exception as exc:  # noqa: BLE001 (reported by __enter__ and wait)
            with self._changed:
                self._failed = exc
                self._changed.notify_all()
            self._ready.set()

    async def _listen(self) -> None:
        layer = _listening_layer()
        self.channel = await layer.new_channel()
        await layer.group_add(self.group, self.channel)
        self._ready.set()
        try:
            while (message := await layer.receive(self.channel))["type"] != _STOP:
                assert message["type"] == "event.forward", message
                body = message["message"]
                with self._changed:
                    self._received.append(Received(time.time(), body["event"], body["data"], body["ts"]))
                    self._changed.notify_all()
        finally:
            await layer.group_discard(self.group, self.channel)
            await layer.close_pools()

    def _check_alive(self) -> None:
        if self._failed is not None:
            raise AssertionError(f"the listener on {self.group} died: {self._failed!r}") from self._failed

    def all(self, event: str, match: Callable[[dict[str, Any]], bool] = lambda data: True) -> list[Received]:
        with self._changed:
            self._check_alive()
            return [r for r in self._received if r.event == event and match(r.data)]

    def wait(
        self, event: str, match: Callable[[dict[str, Any]], bool] = lambda data: True, *, timeout: float
    ) -> Received:
        """The first `event` whose data satisfies `match`, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (found := [r for r in self._received if r.event == event and match(r.data)]):
                left = deadline - time.monotonic()
                self._check_alive()
                if left <= 0:
                    seen = [(r.event, r.data.get("order_id")) for r in self._received]
                    raise AssertionError(f"no {event} within {timeout}s; received {seen}")
                self._changed.wait(left)
        return found[0]


def _listening_layer() -> Any:
    """A layer instance of the app's configuration, for the listener alone.

    Its own instance because receive buffers belong to one event loop (the worker publishes
    through the process-wide instance from other loops).
    """
    layer = channel_layers.configs[DEFAULT_CHANNEL_LAYER]
    return import_string(layer["BACKEND"])(**copy.deepcopy(layer.get("CONFIG", {})))


@pytest.fixture
def user_events() -> Iterator[Callable[[int], UserEvents]]:
    """`user_events(user_id)` starts listening to that user's group; stopped after the test."""
    with contextlib.ExitStack() as stack:
        yield lambda user_id: stack.enter_context(UserEvents(user_id))
