"""Baseline (a): a bare Channels consumer; every quote is a `group_send` to one group per symbol.

Serve it with Daphne: `python -m daphne -b 127.0.0.1 -p PORT bench.baselines.channels_group:application`
(REDIS_URL and FANOUT_LAYER_PREFIX from the environment). Each socket joins the group of every
symbol it subscribes to; the publisher (the benchmark driver, standing in for the quote poller)
calls `group_send` once per symbol and the channels-redis core layer delivers one message per
socket, which the consumer writes out. This is the textbook Channels design the app's
per-process hub replaces; it speaks the same /ws/ subset as the other baseline.
"""

from __future__ import annotations

import json
import os
import resource
from datetime import UTC, datetime
from typing import Any

import django
from django.conf import settings

settings.configure(
    SECRET_KEY="bench-only-not-a-secret",  # noqa: S106 - a throwaway process on loopback
    INSTALLED_APPS=["channels"],
    CHANNEL_LAYERS={
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # The app's pool sizing (a burst of handshakes needs more than redis-py's 100), and a
                # read timeout above the layer's 5 s BZPOPMIN: redis-py 8's default of 5 s races it
                # and kills whichever consumer is receiving at that moment.
                "hosts": [{"address": os.environ["REDIS_URL"], "max_connections": 1000, "socket_timeout": 30}],
                "prefix": os.environ.get("FANOUT_LAYER_PREFIX", "bench:asgi"),
                "group_expiry": 600,  # what a crashed run leaves behind goes soon
            },
        }
    },
)
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402 - needs settings
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

_, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))


def group_name(symbol: str) -> str:
    """Group names allow letters, digits, '-', '_' and '.' only."""
    return "q." + symbol.replace("/", "-")


def envelope(event: str, data: dict[str, Any]) -> str:
    ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"event": event, "data": data, "ts": ts})


class QuoteConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.symbols: list[str] = []
        await self.accept()
        await self.send(text_data=envelope("ready", {"user_id": 0, "tier": "bench"}))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        message = json.loads(text_data or "{}")
        if message.get("action") != "subscribe":
            return
        for symbol in message["symbols"]:
            await self.channel_layer.group_add(group_name(symbol), self.channel_name)
            self.symbols.append(symbol)
        await self.send(text_data=envelope("subscribed", {"symbols": self.symbols}))

    async def disconnect(self, code: int) -> None:
        for symbol in self.symbols:
            await self.channel_layer.group_discard(group_name(symbol), self.channel_name)

    async def quote_frame(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/", QuoteConsumer.as_asgi())])})
