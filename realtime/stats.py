"""WebSocket connection figures, summed over every live web process through Redis.

Each web process keeps its own counts and publishes a snapshot every second under a key
that expires after a few seconds, so a process that dies stops counting by itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from collections import Counter
from typing import Any

from django.conf import settings

PROCESSES_KEY = "tw:ws:procs"
SNAPSHOT_KEY = "tw:ws:proc:{}"
PUBLISH_SECONDS = 1.0
SNAPSHOT_TTL_SECONDS = 5


class ConnectionTracker:
    """This process's sockets: accepted since start, and open now per user."""

    def __init__(self) -> None:
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.total = 0
        self.users: Counter[int] = Counter()
        self._publisher: asyncio.Task[None] | None = None

    def opened(self, user_id: int) -> None:
        self.total += 1
        self.users[user_id] += 1
        self._ensure_publisher()

    def closed(self, user_id: int) -> None:
        self.users[user_id] -= 1
        if self.users[user_id] <= 0:
            del self.users[user_id]

    def snapshot(self) -> dict[str, Any]:
        return {"total": self.total, "active": sum(self.users.values()), "users": sorted(self.users)}

    def _ensure_publisher(self) -> None:
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.get_running_loop().create_task(self._publish_forever())

    async def _publish_forever(self) -> None:
        from redis.asyncio import Redis

        client = Redis.from_url(settings.REDIS_URL, socket_timeout=settings.REDIS_SOCKET_TIMEOUT)
        key = SNAPSHOT_KEY.format(self.process_id)
        while True:
            try:
                async with client.pipeline(transaction=False) as pipe:
                    pipe.set(key, json.dumps(self.snapshot()), ex=SNAPSHOT_TTL_SECONDS)
                    pipe.sadd(PROCESSES_KEY, self.process_id)
                    await pipe.execute()
            except Exception:  # noqa: BLE001, S110 - Redis away: /health reports it; retry next tick
                pass
            await asyncio.sleep(PUBLISH_SECONDS)


tracker = ConnectionTracker()


def websocket_stats(*, uptime: float, redis_ok: bool) -> dict[str, Any]:
    """The /health `websocket` block, summed over every live web process."""
    figures = {
        "initialized": bool(settings.WEBSOCKET_FEATURES_ENABLED),
        "totalConnections": 0,
        "activeConnections": 0,
        "uniqueUsers": 0,
        "redisAdapter": redis_ok and "Redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"],
        "uptime": uptime,
    }
    if not redis_ok:
        return figures
    from config.redis import get_redis

    client = get_redis()
    ids = sorted(member.decode() for member in client.smembers(PROCESSES_KEY))
    raw = client.mget([SNAPSHOT_KEY.format(pid) for pid in ids]) if ids else []
    users: set[int] = set()
    for pid, blob in zip(ids, raw, strict=True):
        if blob is None:
            client.srem(PROCESSES_KEY, pid)  # that process is gone
            continue
        snap = json.loads(blob)
        figures["totalConnections"] += snap["total"]
        figures["activeConnections"] += snap["active"]
        users.update(snap["users"])
    figures["uniqueUsers"] = len(users)
    return figures
