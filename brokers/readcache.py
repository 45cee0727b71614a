"""The hottest API reads per user (the configured list and each balance), as the JSON the API
returns, in the near cache (config/nearcache.py): a repeated read costs no query and, once a
process has seen it, no Redis round trip.

Every write that changes what a read returns drops the entry in every process once its
transaction commits (signals, so services and the admin are covered alike); the TTL only bounds
what a missed invalidation could cost.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db.models.signals import post_delete, post_save

from brokers.models import BalanceSnapshot, BrokerConnection
from config.nearcache import near_cached, near_forget_on_commit

TTL_SECONDS = 60
CONFIGURED = "configured"


def balance_name(broker: str) -> str:
    return f"balance:{broker}"


def _key(user_id: int, name: str) -> str:
    return f"tw:read:{user_id}:{name}"


def read_cached(*, user_id: int, name: str, build: Callable[[], Any]) -> Any:
    """The cached value, or `build()` stored for the next read (unless it is None)."""

    def encoded() -> bytes | None:
        value = build()
        return None if value is None else json.dumps(value).encode()

    raw = near_cached(_key(user_id, name), encoded, ttl=TTL_SECONDS)
    return None if raw is None else json.loads(raw)


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
