"""The market-data source: where symbols are validated and watchlist quotes come from.

One source serves the whole site, chosen by MARKET_DATA_SOURCE: a key of SOURCES or the dotted
path of a class implementing `MarketDataSource` (constructed without arguments). Only the paper
market exists today; a broker's data API plugs in as another class, named here or by path.
Every fetch goes through the shared Redis rate limiter, one slot per batch call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import ClassVar, Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from brokers.adapters.base import Quote
from brokers.adapters.paper import market_quotes
from brokers.adapters.paper.universe import validate_symbol
from brokers.adapters.registry import RateLimit
from brokers.ratelimit import acquire

# Belongs in config/settings.py with the other knobs; read here until it moves there.

SOURCES: dict[str, str] = {"paper": "watchlist.marketdata.PaperMarketData"}


@runtime_checkable
class MarketDataSource(Protocol):
    """Quotes for many symbols at once, and the canonical spelling of a symbol.

    `key` names the source in rate-limiter buckets and logs; `rate_limit` is what the source
    allows for the whole site; `batch_size` is how many symbols one `quotes` call may ask for.
    Methods raise only `brokers.adapters.base.BrokerError` subclasses.
    """

    key: ClassVar[str]
    rate_limit: ClassVar[RateLimit]
    batch_size: ClassVar[int]

    def validate(self, symbol: str) -> str:
        """The canonical form of `symbol`; raises InvalidSymbol. Must not cost a rate-limited call."""
        ...

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Latest quotes keyed by canonical symbol, in one call; unknown symbols are left out."""
        ...


class PaperMarketData:
    """The built-in paper market: computed locally, no network and no database."""

    key: ClassVar[str] = "paper"
    # Nothing upstream to protect; the limit only keeps a runaway caller in check.
    rate_limit: ClassVar[RateLimit] = RateLimit(50, 1, scope="ip")
    batch_size: ClassVar[int] = 500

    def validate(self, symbol: str) -> str:
        return validate_symbol(symbol)

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        return market_quotes(symbols)


@cache
def _load(path: str) -> MarketDataSource:
    try:
        source = import_string(path)()
    except (ImportError, TypeError) as exc:  # TypeError: not a class that builds without arguments
        raise ImproperlyConfigured(f"MARKET_DATA_SOURCE: cannot load {path!r}: {exc}") from exc
    if not isinstance(source, MarketDataSource):
        raise ImproperlyConfigured(f"MARKET_DATA_SOURCE: {path!r} is not a MarketDataSource")
    return source


def market_data_source() -> MarketDataSource:
    """The configured source (one shared instance per process)."""
    name = settings.MARKET_DATA_SOURCE
    return _load(SOURCES.get(name, name))


def symbol_validate(symbol: str) -> str:
    """`symbol` in the source's canonical form (`" btc/usd "` → `"BTC/USD"`); raises InvalidSymbol."""
    return market_data_source().validate(symbol)


def quotes_fetch(symbols: Iterable[str], *, wait: float = 0.0) -> dict[str, Quote]:
    """Latest quotes of `symbols` (each asked for once), batched, one rate-limiter slot per batch.

    Waits up to `wait` seconds per batch for a slot; raises BrokerError (RateLimited included)
    when a batch cannot be fetched.
    """
    source = market_data_source()
    wanted = sorted(set(symbols))
    quotes: dict[str, Quote] = {}
    for start in range(0, len(wanted), source.batch_size):
        acquire(broker=f"marketdata:{source.key}", identity=source.key, limit=source.rate_limit, wait=wait)
        quotes.update(source.quotes(wanted[start : start + source.batch_size]))
    return quotes
