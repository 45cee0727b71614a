"""Writes to watchlists, and the quote refresh the poller runs each cycle."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import User
from brokers.adapters.base import BrokerError, InvalidSymbol
from brokers.services.connections import broker_error_response
from config.errors import ApiError
from realtime.quotes import quotes_publish
from realtime.stats import subscribed_symbols
from watchlist.marketdata import quotes_fetch, symbol_validate
from watchlist.models import WatchlistItem
from watchlist.selectors import watchlist_symbols_all

WATCHLIST_MAX_SYMBOLS = 200


def _validated(symbol: str) -> str:
    try:
        return symbol_validate(symbol)
    except InvalidSymbol as exc:
        raise ApiError(400, "invalid", exc.message, fields={"symbol": [exc.message]}) from None
    except BrokerError as exc:
        raise broker_error_response(exc) from None


def _normalised(symbol: str) -> str:
    # A symbol the source no longer lists (say, after switching sources) must still be removable.
    try:
        return symbol_validate(symbol)
    except BrokerError:
        return "".join(symbol.split()).upper()


def watchlist_symbol_add(*, user: User, symbol: str) -> tuple[WatchlistItem, bool]:
    """Put `symbol` (any spelling the source accepts) on the user's watchlist; returns (item, created).

    A symbol already on the list returns the existing item. An unknown symbol, or a list that
    already holds WATCHLIST_MAX_SYMBOLS, is a 400 `invalid` on `symbol`.
    """
    canonical = _validated(symbol)
    existing = WatchlistItem.objects.filter(user=user, symbol=canonical).first()
    if existing is not None:
        return existing, False
    # Counted before the insert: two racing adds can pass the cap by one, which is harmless.
    if WatchlistItem.objects.filter(user=user).count() >= WATCHLIST_MAX_SYMBOLS:
        message = f"Your watchlist is full ({WATCHLIST_MAX_SYMBOLS} symbols); remove one before adding another."
        raise ApiError(400, "invalid", message, fields={"symbol": [message]})
    try:
        with transaction.atomic():
            return WatchlistItem.objects.create(user=user, symbol=canonical), True
    except IntegrityError:  # the same symbol added concurrently: theirs is ours
        return WatchlistItem.objects.get(user=user, symbol=canonical), False


def watchlist_symbol_remove(*, user: User, symbol: str) -> None:
    """Take `symbol` off the user's watchlist; 404 `not_found` when it is not on it."""
    canonical = _normalised(symbol)
    deleted, _ = WatchlistItem.objects.filter(user=user, symbol=canonical).delete()
    if not deleted:
        raise ApiError(404, "not_found", f"{canonical[:32]} is not on your watchlist.")


def quotes_refresh(*, wait: float = 0.0) -> int:
    """Fetch every watched or live-subscribed symbol once and publish the quotes that changed.

    Returns how many quotes were published. Raises BrokerError when the source (or its rate
    limit, waited on for up to `wait` seconds per batch) refuses.
    """
    symbols = subscribed_symbols() | watchlist_symbols_all()
    if not symbols:
        return 0
    return quotes_publish(quotes_fetch(symbols, wait=wait).values())
