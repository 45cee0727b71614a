"""The /ws/ consumer."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from realtime import events
from realtime.stats import tracker

CLOSE_UNAUTHENTICATED = 4401


class RealtimeConsumer(AsyncJsonWebsocketConsumer):
    user_id: int | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        tracker.opened(user.pk)
        await self.send_json(events.envelope(events.READY, {"user_id": user.pk, "tier": user.tier}))

    async def disconnect(self, code: int) -> None:
        if self.user_id is not None:
            tracker.closed(self.user_id)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.send_json(events.error("bad_request", "Unknown action."))
