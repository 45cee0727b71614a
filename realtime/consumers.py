"""The /ws/ consumer: auth, the per-user event group, and quote subscriptions (CONTRACT.md)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from realtime import events
from realtime.hub import Outbox, hub
from realtime.publish import user_group
from realtime.quotes import quotes_last_async
from realtime.stats import tracker
from realtime.symbols import SymbolError, symbols_clean
from realtime.wsprotocol import SEND_NOWAIT

CLOSE_UNAUTHENTICATED = 4401
CLOSE_DISABLED = 4503
CLOSE_TOO_BIG = 1009
MAX_FRAME_BYTES = 64 * 1024
MAX_SYMBOLS = 200


class RealtimeConsumer(AsyncWebsocketConsumer):
    user_id: int | None = None
    outbox: Outbox | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.symbols: list[str] = []
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not settings.WEBSOCKET_FEATURES_ENABLED:
            await self.send_event(events.error("realtime_disabled", "Real-time features are turned off."))
            await self.close(code=CLOSE_DISABLED)
            return
        self.user_id = user.pk
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        self.outbox = Outbox(self.base_send, send_nowait=self.scope.get("extensions", {}).get(SEND_NOWAIT))
        tracker.opened(user.pk)
        await self.send_event(events.envelope(events.READY, {"user_id": user.pk, "tier": user.tier}))

    async def disconnect(self, code: int) -> None:
        if self.user_id is None:
            return
        # Local cleanup first: it must happen even if the Redis call below fails or times out.
        if self.outbox is not None:
            hub.remove(self.outbox, self.symbols)
            tracker.unsubscribed(self.symbols)
            self.outbox.close()
        tracker.closed(self.user_id)
        await self.channel_layer.group_discard(user_group(self.user_id), self.channel_name)

    async def send_event(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data.encode() if text_data is not None else (bytes_data or b"")
        if len(raw) > MAX_FRAME_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        if self.user_id is None:
            return
        try:
            message = json.loads(raw)
        except ValueError:
            await self.send_event(events.error("bad_request", "Messages must be JSON."))
            return
        handler = self._handler(message)
        if handler is None:
            await self.send_event(
                events.error("bad_request", "Send an object with action subscribe, unsubscribe or ping.")
            )
            return
        await handler(message)

    def _handler(self, message: Any) -> Callable[[dict[str, Any]], Awaitable[None]] | None:
        if not isinstance(message, dict):
            return None
        return {"subscribe": self.on_subscribe, "unsubscribe": self.on_unsubscribe, "ping": self.on_ping}.get(
            message.get("action")  # type: ignore[arg-type]
        )

    async def on_ping(self, message: dict[str, Any]) -> None:
        await self.send_event(events.envelope(events.PONG, {}))

    async def on_subscribe(self, message: dict[str, Any]) -> None:
        try:
            wanted = symbols_clean(message.get("symbols"))
        except SymbolError as exc:
            await self.send_event(events.error("bad_request", str(exc)))
            return
        if self.outbox is None:
            return
        added = [s for s in wanted if s not in self.symbols]
        if len(self.symbols) + len(added) > MAX_SYMBOLS:
            await self.send_event(events.error("bad_request", f"At most {MAX_SYMBOLS} symbols per connection."))
            return
        self.symbols.extend(added)
        hub.add(self.outbox, added)
        tracker.subscribed(added)
        await self.send_event(events.envelope(events.SUBSCRIBED, {"symbols": self.symbols}))
        for quote in (await quotes_last_async(added)).values():
            self.outbox.offer(quote["symbol"], json.dumps(events.envelope(events.WATCHLIST_QUOTE, quote)))

    async def on_unsubscribe(self, message: dict[str, Any]) -> None:
        try:
            wanted = symbols_clean(message.get("symbols"), validate=False)
        except SymbolError as exc:
            await self.send_event(events.error("bad_request", str(exc)))
            return
        if self.outbox is None:
            return
        removed = [s for s in wanted if s in self.symbols]
        self.symbols = [s for s in self.symbols if s not in removed]
        hub.remove(self.outbox, removed)
        tracker.unsubscribed(removed)
        await self.send_event(events.envelope(events.UNSUBSCRIBED, {"symbols": self.symbols}))

    async def event_forward(self, event: dict[str, Any]) -> None:
        """A per-user event from the channel layer (realtime.publish)."""
        await self.send_event(event["message"])
