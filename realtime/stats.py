"""WebSocket connection figures, summed over every live web process through Redis.

Each web process keeps its own counts and publishes a snapshot every second under a key
that expires after a few seconds, so a process that dies stops counting by itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections import Counter
from typing import Any

from django.conf import settings

from realtime.hub import totals as hub_totals

PROCESSES_KEY = "tw:ws:procs"
SNAPSHOT_KEY = "tw:ws:proc:{}"
PUBLISH_SECONDS = 1.0
SNAPSHOT_TTL_SECONDS = 5


class ConnectionTracker:
    """This process's sockets: accepted since start, and open now per user.

    A daemon thread publishes the figures, so the publishing never depends on (or blocks)
    the event loop that serves the sockets.
    """

    def __init__(self) -> None:
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.total = 0
        self.users: Counter[int] = Counter()
        self.symbols: Counter[str] = Counter()  # live subscriptions in this process
        self._lock = threading.Lock()
        self._publisher: threading.Thread | None = None

    def opened(self, user_id: int) -> None:
        with self._lock:
            self.total += 1
            self.users[user_id] += 1
        self._ensure_publisher()

    def closed(self, user_id: int) -> None:
        with self._lock:
            self.users[user_id] -= 1
            if self.users[user_id] <= 0:
                del self.users[user_id]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "active": sum(self.users.values()),
                "frames_sent": hub_totals.sent,
                "frames_coalesced": hub_totals.coalesced,
                "users": sorted(self.users),
                "symbols": sorted(self.symbols),
            }

    def subscribed(self, symbols: list[str]) -> None:
        with self._lock:
            self.symbols.update(symbols)

    def unsubscribed(self, symbols: list[str]) -> None:
        with self._lock:
            self.symbols.subtract(symbols)
            for symbol in symbols:
                if self.symbols[symbol] <= 0:
                    del self.symbols[symbol]

    def _ensure_publisher(self) -> None:
        if self._publisher is None or not self._publisher.is_alive():
            self._publisher = threading.Thread(target=self._publish_forever, daemon=True, name="tw-ws-stats")
            self._publisher.start()

    def publish(self) -> None:
        from config.redis import get_redis

        pipe = get_redis().pipeline(transaction=False)
        pipe.set(SNAPSHOT_KEY.format(self.process_id), json.dumps(self.snapshot()), ex=SNAPSHOT_TTL_SECONDS)
        pipe.sadd(PROCESSES_KEY, self.process_id)
        pipe.execute()

    def _publish_forever(self) -> None:
        while True:
            # Redis away: /health reports it; the next tick retries.
            with contextlib.suppress(Exception):
                self.publish()
            time.sleep(PUBLISH_SECONDS)


tracker = ConnectionTracker()


def _live_snapshots() -> list[dict[str, Any]]:
    """Every live web process's last snapshot; forgets processes whose snapshot expired."""
    from config.redis import get_redis

    client = get_redis()
    ids = sorted(member.decode() for member in client.smembers(PROCESSES_KEY))
    raw = client.mget([SNAPSHOT_KEY.format(pid) for pid in ids]) if ids else []
    snapshots = []
    for pid, blob in zip(ids, raw, strict=True):
        if blob is None:
            client.srem(PROCESSES_KEY, pid)  # that process is gone
        else:
            snapshots.append(json.loads(blob))
    return snapshots


def subscribed_symbols() -> set[str]:
    """Symbols with a live subscriber in any web process (current within a few seconds)."""
    return {symbol for snap in _live_snapshots() for symbol in snap.get("symbols", [])}


def websocket_stats(*, uptime: float, redis_ok: bool) -> dict[str, Any]:
    """The /health `websocket` block, summed over every live web process."""
    figures = {
        "initialized": bool(settings.WEBSOCKET_FEATURES_ENABLED),
        "totalConnections": 0,
        "activeConnections": 0,
        "uniqueUsers": 0,
        "quoteFramesSent": 0,
        "quoteFramesCoalesced": 0,
        "redisAdapter": redis_ok and "Redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"],
        "uptime": uptime,
    }
    if not redis_ok:
        return figures
    users: set[int] = set()
    for snap in _live_snapshots():
        figures["totalConnections"] += snap["total"]
        figures["activeConnections"] += snap["active"]
        figures["quoteFramesSent"] += snap.get("frames_sent", 0)
        figures["quoteFramesCoalesced"] += snap.get("frames_coalesced", 0)
        users.update(snap["users"])
    figures["uniqueUsers"] = len(users)
    return figures
