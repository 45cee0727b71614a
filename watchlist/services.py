"""Writes to watchlists, and the quote refresh the poller runs each cycle."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import User
from brokers.adapters.base import BrokerError
from brokers.symbols import symbol_normalize
from config.domain import InvalidInput, NotFound
from realtime.quotes import quotes_mark_stale, quotes_publish
from realtime.stats import subscribed_symbols
from watchlist.marketdata import QuoteBatch, quotes_fetch, symbol_validate
from watchlist.models import WatchlistItem
from watchlist.selectors import watchlist_symbols_all

WATCHLIST_MAX_SYMBOLS = 200


def _normalised(symbol: str) -> str:
    # A symbol the source no longer lists (say, after switching sources) must still be removable.
    try:
        return symbol_validate(symbol)
    except BrokerError:
        return symbol_normalize(symbol)


def watchlist_symbol_add(*, user: User, symbol: str) -> tuple[WatchlistItem, bool]:
    """Put `symbol` (any spelling the source accepts) on the user's watchlist; returns (item, created).

    A symbol already on the list returns the existing item. An unknown symbol, or a list that
    already holds WATCHLIST_MAX_SYMBOLS, is refused naming `symbol` (InvalidSymbol / InvalidInput).
    """
    canonical = symbol_validate(symbol)
    existing = WatchlistItem.objects.filter(user=user, symbol=canonical).first()
    if existing is not None:
        return existing, False
    # Counted before the insert: two racing adds can pass the cap by one, which is harmless.
    if WatchlistItem.objects.filter(user=user).count() >= WATCHLIST_MAX_SYMBOLS:
        message = f"Your watchlist is full ({WATCHLIST_MAX_SYMBOLS} symbols); remove one before adding another."
        raise InvalidInput.field("symbol", message)
    try:
        with transaction.atomic():
            return WatchlistItem.objects.create(user=user, symbol=canonical), True
    except IntegrityError:  # the same symbol added concurrently: theirs is ours
        return WatchlistItem.objects.get(user=user, symbol=canonical), False


def watchlist_symbol_remove(*, user: User, symbol: str) -> None:
    """Take `symbol` off the user's watchlist; NotFound when it is not on it."""
    canonical = _normalised(symbol)
    deleted, _ = WatchlistItem.objects.filter(user=user, symbol=canonical).delete()
    if not deleted:
        raise NotFound(f"{canonical[:32]} is not on your watchlist.")


def quotes_refresh(*, wait: float = 0.0) -> QuoteBatch:
    """Fetch every watched or live-subscribed symbol once and publish the quotes that changed.

    A source that fails (or whose rate limit, waited on for up to `wait` seconds per batch,
    refuses) has its symbols' last quotes published again marked stale; the batch says which.
    """
    symbols = subscribed_symbols() | watchlist_symbols_all()
    if not symbols:
        return QuoteBatch()
    batch = quotes_fetch(symbols, wait=wait)
    batch.published = quotes_publish(batch.quotes.values())
    for owed, _ in batch.failed.values():
        quotes_mark_stale(owed)
    return batch
