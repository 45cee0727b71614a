"""The one way the rest of the project sends WebSocket events: after the transaction commits.

Sent from code that runs under an ASGI server's event loop (a view in a `sync_to_async` thread),
the send is scheduled on that loop. Sent from plain sync code (a Celery task, a WSGI view),
`async_to_sync` would start a new event loop, and with it new connections to Redis, for every
event (2-4 ms each, measured); such sends go to one long-lived event loop of the process instead,
whose channel-layer connections stay open (a fraction of a millisecond each).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from realtime import events

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


PUBLISH_TIMEOUT_SECONDS = 10.0
_LOOP: asyncio.AbstractEventLoop | None = None
_LOOP_PID = 0
_LOOP_LOCK = threading.Lock()


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """This process's long-lived publishing loop (started on first use; a forked child starts its own)."""
    global _LOOP, _LOOP_PID
    with _LOOP_LOCK:
        if _LOOP is None or os.getpid() != _LOOP_PID:
            _LOOP, _LOOP_PID = asyncio.new_event_loop(), os.getpid()
            threading.Thread(target=_LOOP.run_forever, name="tw-publisher", daemon=True).start()
        return _LOOP


def _under_server_loop() -> bool:
    return getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) == os.getpid()


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    payload = {"type": "event.forward", "message": message}
    try:
        if _under_server_loop():
            async_to_sync(layer.group_send)(group, payload)
        else:
            future = asyncio.run_coroutine_threadsafe(layer.group_send(group, payload), _publisher_loop())
            future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
    except Exception:  # an event lost to a Redis blip must not undo the order that caused it
        logger.warning("could not publish %s to %s", message.get("event"), group, exc_info=True)


def publish_to_user(user_id: int, event: str, data: dict[str, Any]) -> None:
    """Send `event` to every socket of `user_id` once the current transaction commits."""
    if not settings.WEBSOCKET_FEATURES_ENABLED:
        return
    message = events.envelope(event, data)
    transaction.on_commit(lambda: _send(user_group(user_id), message))
