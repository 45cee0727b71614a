"""Reads for the watchlist API and the quote poller."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from accounts.models import User
from realtime.quotes import quotes_last
from watchlist.models import WatchlistItem

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchlistEntry:
    symbol: str
    added_at: datetime
    quote: dict[str, Any] | None  # the last `watchlist:quote` data, None before the first poll


def watchlist_entries(*, items: Sequence[WatchlistItem]) -> list[WatchlistEntry]:
    """`items` with their last published quotes, read from Redis in one round trip."""
    try:
        last = quotes_last(item.symbol for item in items)
    except redis.RedisError as exc:
        # The list itself is in the database; without Redis it is still worth showing.
        logger.warning("last quotes unavailable: %s", exc)
        last = {}
    return [WatchlistEntry(item.symbol, item.added_at, last.get(item.symbol)) for item in items]


def watchlist_list(*, user: User) -> list[WatchlistEntry]:
    """The user's watchlist, oldest first, each symbol with its last quote."""
    return watchlist_entries(items=list(WatchlistItem.objects.filter(user=user)))


def watchlist_symbols_all() -> set[str]:
    """Every symbol on anyone's watchlist, in one query."""
    # order_by() drops the model ordering, which would otherwise defeat DISTINCT.
    return set(WatchlistItem.objects.order_by().values_list("symbol", flat=True).distinct())
