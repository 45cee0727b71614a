"""A process-local copy in front of Redis for small hot entries (API tokens, per-user reads),
kept correct across processes by invalidation messages.

Redis holds the shared entry; each process keeps what it read in memory, so a hit costs no
network round trip (one round trip costs about as much CPU as the rest of an API request).
Writers drop entries with `near_forget`, which deletes them in Redis and publishes their keys;
every process listens on one pub/sub channel (a daemon thread) and drops its copies. This is
Redis's own client-side caching (server-assisted tracking), which redis-py only offers for
Redis >= 7.4, done by hand.

Correctness over speed: the local copy is used only while the listener is subscribed. When
Redis goes away the copies are dropped and every read goes to Redis (and, failing that, to the
caller's `build`); after resubscribing the process starts empty, since messages published in
between were missed. A read that raced an invalidation (the generation moved while it was
fetching) is not kept. Entries also expire after their TTL, locally and in Redis.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from django.db import transaction
from redis.exceptions import RedisError

from config.redis import get_redis

log = logging.getLogger(__name__)
MAX_LOCAL_ENTRIES = 10_000
RESUBSCRIBE_MAX_SECONDS = 5.0


def channel() -> str:
    """Named per Redis database: pub/sub ignores database numbers."""
    return f"tw:nearcache:{get_redis().connection_pool.connection_kwargs.get('db', 0)}"


class _Local:
    """This process's copies, the invalidation generation and the listener's health."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self.generation = 0
        self.subscribed = False
        self.pid = os.getpid()
        self.thread: threading.Thread | None = None

    def get(self, key: str) -> bytes | None:
        with self.lock:
            if not self.subscribed or key not in self.entries:
                return None
            raw, expires = self.entries[key]
            if expires < time.monotonic():
                del self.entries[key]
                return None
            self.entries.move_to_end(key)
            return raw

    def keep(self, key: str, raw: bytes, ttl: float, generation: int) -> None:
        with self.lock:
            if not self.subscribed or generation != self.generation:
                return
            self.entries[key] = (raw, time.monotonic() + ttl)
            if len(self.entries) > MAX_LOCAL_ENTRIES:
                self.entries.popitem(last=False)

    def drop(self, keys: list[str] | None = None) -> None:
        """Drop these keys (all when None) and move the generation on."""
        with self.lock:
            self.generation += 1
            if keys is None:
                self.entries.clear()
            else:
                for key in keys:
                    self.entries.pop(key, None)

    def set_subscribed(self, subscribed: bool) -> None:
        self.drop()
        with self.lock:
            self.subscribed = subscribed


_local = _Local()
_started_lock = threading.Lock()


def _listen() -> None:
    delay = 0.1
    while True:
        pubsub = get_redis().pubsub(ignore_subscribe_messages=False)
        try:
            pubsub.subscribe(channel())
            while True:
                message = pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    _local.set_subscribed(True)
                    delay = 0.1
                elif message["type"] == "message":
                    _local.drop(message["data"].decode().split("\n"))
        except Exception:  # the listener must outlive anything Redis or its client throws
            log.debug("near cache listener lost Redis", exc_info=True)
        finally:
            _local.set_subscribed(False)
            pubsub.close()
        time.sleep(delay)
        delay = min(delay * 2, RESUBSCRIBE_MAX_SECONDS)


def _ensure_listener() -> _Local:
    global _local
    if _local.pid == os.getpid() and _local.thread is not None:
        return _local
    with _started_lock:
        if _local.pid != os.getpid():  # forked: the parent's thread and copies are not ours
            _local = _Local()
        if _local.thread is None:
            _local.thread = threading.Thread(target=_listen, name="nearcache-listener", daemon=True)
            _local.thread.start()
    return _local


def near_cached(key: str, build: Callable[[], bytes | None], *, ttl: float) -> bytes | None:
    """The entry from this process, else from Redis, else `build()` stored in Redis (unless None).

    Redis errors fall through to `build()`: a cache outage costs speed, never a request."""
    local = _ensure_listener()
    raw = local.get(key)
    if raw is not None:
        return raw
    generation = local.generation
    try:
        raw = get_redis().get(key)
    except RedisError:
        log.debug("near cache: Redis unavailable", exc_info=True)
        return build()
    if raw is None:
        raw = build()
        if raw is None or generation != local.generation:
            return raw
        try:
            get_redis().set(key, raw, ex=max(1, int(ttl)))
        except RedisError:
            log.debug("near cache: Redis unavailable", exc_info=True)
            return raw
    local.keep(key, raw, ttl, generation)
    return raw


def near_forget(keys: list[str]) -> None:
    """Drop `keys` here, in Redis and in every other process."""
    if not keys:
        return
    _local.drop(keys)
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            pipe.delete(*keys)
            pipe.publish(channel(), "\n".join(keys))
            pipe.execute()
    except RedisError:
        # Other processes still hold copies; they drop them once they notice Redis is gone,
        # and entries expire within their TTL.
        log.warning("near cache: could not invalidate %d key(s); they expire within their TTL", len(keys))


def near_forget_on_commit(keys: list[str]) -> None:
    """For a write inside a transaction: drop `keys` now and again once it commits, since a read
    between the two (in another process) would refill them with what the write replaces."""
    near_forget(keys)
    transaction.on_commit(lambda: near_forget(keys))


def near_clear_local() -> None:
    """Drop this process's copies (tests: a rolled-back test database reuses ids)."""
    _local.drop()
