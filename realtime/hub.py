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
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings

from realtime import events
from realtime.quotes import quotes_channel

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
RECONNECT_MAX_SECONDS = 5.0


@dataclass
class FrameTotals:
    """This process's quote frames since start, for /health: written and coalesced away."""

    sent: int = 0
    coalesced: int = 0


totals = FrameTotals()


class Outbox:
    """One socket's pending frames (one per symbol) and the task that writes them in order.

    With `send_nowait` (the server's SEND_NOWAIT extension, realtime/wsprotocol.py) a frame for
    an idle socket is written at once, without waking the task; anything else waits its turn."""

    def __init__(self, send: Send, send_nowait: Callable[[str], bool] | None = None) -> None:
        self.send = send
        self.send_nowait = send_nowait
        self.pending: dict[str, str] = {}
        self.ready = asyncio.Event()
        self.writing = False  # the task is inside `send`
        self.coalesced = 0
        self.sent = 0
        self.task = asyncio.get_running_loop().create_task(self._drain())

    def offer(self, symbol: str, frame: str) -> None:
        idle = not (self.pending or self.writing)
        if idle and self.send_nowait is not None and self.send_nowait(frame):
            self._count_sent()
            return
        if symbol in self.pending:
            self.coalesced += 1
            totals.coalesced += 1
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
                    self.writing = True
                    await self.send({"type": "websocket.send", "text": frame})
                    self.writing = False
                    self._count_sent()

    def _count_sent(self) -> None:
        self.sent += 1
        totals.sent += 1

    def close(self) -> None:
        self.task.cancel()


class QuoteHub:
    """This process's quote subscribers and its one Redis subscription.

    The subscription lives in a daemon thread with a plain Redis client: it parses each
    message off the event loop and hands it over with `call_soon_threadsafe`, and it never
    depends on asyncio cancellation semantics to stop or restart.
    """

    def __init__(self) -> None:
        self.subscribers: dict[str, set[Outbox]] = defaultdict(set)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.subscribed = threading.Event()  # set while the Redis subscription is live
        self.received = 0

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # a test may run several loops in turn
            self.loop, self.subscribers = loop, defaultdict(set)
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._listen, daemon=True, name="tw-quote-hub")
            self.thread.start()

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
        batches: dict[Outbox, list[tuple[str, str]]] = defaultdict(list)
        for quote in quotes:
            members = self.subscribers.get(quote["symbol"])
            if not members:
                continue
            frame = json.dumps(events.envelope(events.WATCHLIST_QUOTE, quote))
            for outbox in members:
                batches[outbox].append((quote["symbol"], frame))
        # Each socket's frames back to back, so the server can write them as one run.
        for outbox, frames in batches.items():
            for symbol, frame in frames:
                outbox.offer(symbol, frame)
        return sum(len(frames) for frames in batches.values())

    def _listen(self) -> None:
        delay = 0.1
        while True:
            try:
                self._listen_once()
                delay = 0.1
            except Exception:
                # Quotes published while Redis is away are lost; the next poll brings fresh ones.
                logger.warning("quote subscription lost; reconnecting in %.1fs", delay, exc_info=True)
            finally:
                self.subscribed.clear()
            time.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    def _listen_once(self) -> None:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, health_check_interval=15)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(quotes_channel())
            self.subscribed.set()
            while True:
                message = pubsub.get_message(timeout=1.0)
                if message is not None:
                    self.received += 1
                    self._hand_over(json.loads(message["data"]))
        finally:
            with contextlib.suppress(Exception):
                pubsub.close()
                client.close()

    def _hand_over(self, quotes: list[dict[str, Any]]) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
            loop.call_soon_threadsafe(self.dispatch, quotes)


hub = QuoteHub()
