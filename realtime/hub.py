"""Per-process quote fan-out.

Each web process subscribes ONCE to the quotes channel in Redis and writes every quote frame
straight to its own subscribed sockets, instead of the channel layer delivering one message
per socket (DESIGN.md: ~10x cheaper). The frame for a quote is encoded once and shared.

Every socket has its own small outbox and writer task: the hub never waits for a socket, so a
slow or dead one delays nobody else. The outbox holds at most one frame per symbol — a newer
quote replaces a waiting older one (counted as coalesced), so a client never receives a stale
quote while a newer one is queued, and a slow client's backlog is bounded by its symbol count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from realtime import events
from realtime.quotes import quotes_channel

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
RECONNECT_MAX_SECONDS = 5.0


class Outbox:
    """One socket's pending frames (one per symbol) and the task that writes them in order."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.pending: dict[str, str] = {}
        self.ready = asyncio.Event()
        self.coalesced = 0
        self.sent = 0
        self.task = asyncio.get_running_loop().create_task(self._drain())

    def offer(self, symbol: str, frame: str) -> None:
        if symbol in self.pending:
            self.coalesced += 1
            del self.pending[symbol]  # re-inserted below, so frames go out in arrival order
        self.pending[symbol] = frame
        self.ready.set()

    async def _drain(self) -> None:
        with contextlib.suppress(Exception):  # the socket went away: its consumer cleans up
            while True:
                await self.ready.wait()
                self.ready.clear()
                while self.pending:
                    symbol = next(iter(self.pending))
                    frame = self.pending.pop(symbol)
                    await self.send({"type": "websocket.send", "text": frame})
                    self.sent += 1

    def close(self) -> None:
        self.task.cancel()


class QuoteHub:
    """This process's quote subscribers and its one Redis subscription."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[Outbox]] = defaultdict(set)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()  # set while the Redis subscription is live
        self.received = 0

    def _bind(self) -> None:
        """Start the listener on the running loop (a test may run several loops in turn)."""
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            self.loop, self.subscribers = loop, defaultdict(set)
            self.listener, self.subscribed = None, asyncio.Event()
        if self.listener is None or self.listener.done():
            self.listener = loop.create_task(self._listen())

    def add(self, outbox: Outbox, symbols: list[str]) -> None:
        self._bind()
        for symbol in symbols:
            self.subscribers[symbol].add(outbox)

    def remove(self, outbox: Outbox, symbols: list[str]) -> None:
        for symbol in symbols:
            members = self.subscribers.get(symbol)
            if members is not None:
                members.discard(outbox)
                if not members:
                    del self.subscribers[symbol]

    def dispatch(self, quotes: list[dict[str, Any]]) -> int:
        """Offer each quote's frame to its subscribers here; returns how many were offered."""
        offered = 0
        for quote in quotes:
            members = self.subscribers.get(quote["symbol"])
            if not members:
                continue
            frame = json.dumps(events.envelope(events.WATCHLIST_QUOTE, quote))
            for outbox in members:
                outbox.offer(quote["symbol"], frame)
            offered += len(members)
        return offered

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._listen_once()
                delay = 0.1
            except Exception:
                # Quotes published while Redis is away are lost; the next poll brings fresh ones.
                logger.warning("quote subscription lost; reconnecting in %.1fs", delay, exc_info=True)
            finally:
                self.subscribed.clear()
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # redis-py's cleanup can swallow a cancellation; it must still end this loop.
                raise asyncio.CancelledError
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _listen_once(self) -> None:
        from redis.asyncio import Redis

        client = Redis.from_url(settings.REDIS_URL)
        try:
            async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(quotes_channel())
                self.subscribed.set()
                async for message in pubsub.listen():
                    self.received += 1
                    self.dispatch(json.loads(message["data"]))
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()


hub = QuoteHub()
