"""The one way the rest of the project sends WebSocket events: after the transaction commits."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from realtime import events

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "event.forward", "message": message})
    except Exception:  # an event lost to a Redis blip must not undo the order that caused it
        logger.warning("could not publish %s to %s", message.get("event"), group, exc_info=True)


def publish_to_user(user_id: int, event: str, data: dict[str, Any]) -> None:
    """Send `event` to every socket of `user_id` once the current transaction commits."""
    if not settings.WEBSOCKET_FEATURES_ENABLED:
        return
    message = events.envelope(event, data)
    transaction.on_commit(lambda: _send(user_group(user_id), message))
