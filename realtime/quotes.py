"""Quotes between the poller (Celery) and the web processes, through Redis.

The poller publishes each cycle's changed quotes as ONE pub/sub message on `quotes_channel()`;
every web process receives it once and fans it out to its own sockets (realtime.hub). The
last quote of every symbol is kept in a hash, so a new subscriber gets it at once. Which
symbols have a live subscriber is published by each web process (realtime.stats).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from typing import Any

from brokers.adapters.base import Quote
from config.redis import get_redis
from realtime import events

LAST_QUOTES_KEY = "tw:quotes:last"


@cache
def quotes_channel() -> str:
    """The pub/sub channel, named per Redis database: pub/sub ignores database numbers."""
    return f"tw:quotes:{get_redis().connection_pool.connection_kwargs.get('db', 0)}"


def _changed(quote: dict[str, Any], previous: bytes | None) -> bool:
    if previous is None:
        return True
    old = json.loads(previous)
    return any(old.get(k) != quote[k] for k in ("price", "bid", "ask", "volume", "stale"))


def quotes_publish(quotes: Iterable[Quote]) -> int:
    """Store and publish the quotes whose figures changed; returns how many were published."""
    return _publish_changed([events.watchlist_quote(q) for q in quotes])


def quotes_mark_stale(symbols: Iterable[str]) -> int:
    """Publish the last quote of each symbol again, marked stale (its source failed); returns how many."""
    last = quotes_last(symbols)
    return _publish_changed([{**quote, "stale": True} for quote in last.values()])


def _publish_changed(payloads: list[dict[str, Any]]) -> int:
    if not payloads:
        return 0
    client = get_redis()
    previous = client.hmget(LAST_QUOTES_KEY, [p["symbol"] for p in payloads])
    changed = [p for p, old in zip(payloads, previous, strict=True) if _changed(p, old)]
    if not changed:
        return 0
    pipe = client.pipeline(transaction=False)
    pipe.hset(LAST_QUOTES_KEY, mapping={p["symbol"]: json.dumps(p) for p in changed})
    pipe.publish(quotes_channel(), json.dumps(changed))
    pipe.execute()
    return len(changed)


def quotes_last(symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The last published quote of each symbol that has one."""
    wanted = list(symbols)
    if not wanted:
        return {}
    raw = get_redis().hmget(LAST_QUOTES_KEY, wanted)
    return {s: json.loads(r) for s, r in zip(wanted, raw, strict=True) if r is not None}


async def quotes_last_async(symbols: list[str]) -> dict[str, dict[str, Any]]:
    """quotes_last for the event loop: the blocking Redis call runs in a worker thread."""
    if not symbols:
        return {}
    from asgiref.sync import sync_to_async

    return await sync_to_async(quotes_last, thread_sensitive=False)(symbols)
