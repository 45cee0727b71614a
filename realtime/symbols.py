"""Checking the symbols a socket subscribes to."""

from __future__ import annotations

from typing import Any

from brokers.adapters.base import InvalidSymbol
from brokers.symbols import symbol_normalize

MAX_SYMBOLS_PER_MESSAGE = 200


class SymbolError(ValueError):
    """The symbols of a message are unusable; the message is safe to send to the client."""


def symbols_clean(raw: Any, *, validate: bool = True) -> list[str]:
    """Canonical, de-duplicated symbols in the order given; any bad one refuses the whole list."""
    from watchlist.marketdata import symbol_validate

    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
        raise SymbolError("symbols must be a non-empty list of strings.")
    if len(raw) > MAX_SYMBOLS_PER_MESSAGE:
        raise SymbolError(f"At most {MAX_SYMBOLS_PER_MESSAGE} symbols per message.")
    clean: list[str] = []
    unknown: list[str] = []
    for symbol in raw:
        try:
            canonical = symbol_validate(symbol) if validate else symbol_normalize(symbol)
        except InvalidSymbol:
            unknown.append(symbol[:32])
            continue
        if canonical not in clean:
            clean.append(canonical)
    if unknown:
        raise SymbolError(f"Unknown symbols: {', '.join(unknown)}.")
    return clean
