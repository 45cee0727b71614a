"""The hottest API reads per user (the configured list and each balance), as the JSON bytes the
API returns, in the near cache (config/nearcache.py): a repeated read costs no query and, once a
process has seen it, no Redis round trip.

Every write that changes what a read returns drops the entry in every process once its
transaction commits (signals, so services and the admin are covered alike); the TTL only bounds
what a missed invalidation could cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.http import HttpResponse
from rest_framework.renderers import JSONRenderer

from brokers.models import BalanceSnapshot, BrokerConnection
from brokers.services.connections import snapshot_stale_at
from config.nearcache import near_cached, near_forget_on_commit

TTL_SECONDS = 60
CONFIGURED = "configured"


def balance_name(broker: str) -> str:
    return f"balance:{broker}"


def _key(user_id: int, name: str) -> str:
    return f"tw:read:{user_id}:{name}"


_RENDERER = JSONRenderer()


def read_cached(*, user_id: int, name: str, build: Callable[[], Any]) -> bytes | None:
    """The cached body, or `build()` rendered and stored for the next read (unless it is None).

    Bodies are rendered as the API's JSON renderer does, so a hit is sent as it is."""

    def rendered() -> bytes | None:
        value = build()
        return None if value is None else _RENDERER.render(value)

    return near_cached(_key(user_id, name), rendered, ttl=TTL_SECONDS)


def balance_cached(*, user_id: int, broker: str, build: Callable[[], dict[str, Any] | None]) -> bytes | None:
    """The balance body of the last snapshot (`build()` makes its payload), `stale` as of now.

    The entry holds the time the snapshot turns stale and the body rendered both ways (compact
    JSON has no raw newline), so a read only picks one."""

    def rendered() -> bytes | None:
        data = build()
        if data is None:
            return None
        stale_at = snapshot_stale_at(as_of=datetime.fromisoformat(data["as_of"]))
        fresh, stale = (_RENDERER.render({**data, "stale": flag}) for flag in (False, True))
        return b"\n".join((repr(stale_at.timestamp()).encode(), fresh, stale))

    raw = near_cached(_key(user_id, balance_name(broker)), rendered, ttl=TTL_SECONDS)
    if raw is None:
        return None
    stale_at, fresh, stale = raw.split(b"\n")
    return fresh if time.time() <= float(stale_at) else stale


def body_response(body: bytes) -> HttpResponse:
    """A rendered body as the response (DRF's rendering would only repeat the work)."""
    return HttpResponse(body, content_type=_RENDERER.media_type)


def _forget_on_commit(user_id: int, broker: str) -> None:
    near_forget_on_commit([_key(user_id, CONFIGURED), _key(user_id, balance_name(broker))])


def _connection_changed(sender: Any, instance: BrokerConnection, **kwargs: Any) -> None:
    _forget_on_commit(instance.user_id, instance.broker)


def _snapshot_saved(sender: Any, instance: BalanceSnapshot, **kwargs: Any) -> None:
    _forget_on_commit(instance.connection.user_id, instance.connection.broker)


def connect_signals() -> None:
    post_save.connect(_connection_changed, sender=BrokerConnection, dispatch_uid="readcache.connection_saved")
    post_delete.connect(_connection_changed, sender=BrokerConnection, dispatch_uid="readcache.connection_deleted")
    post_save.connect(_snapshot_saved, sender=BalanceSnapshot, dispatch_uid="readcache.snapshot_saved")
