"""Market-data sources: where symbols are validated and watchlist quotes come from, per asset class.

MARKET_DATA_SOURCE names one source for everything (`paper`, a key of SOURCES or the dotted path
of a class implementing `MarketDataSource`, built without arguments), or one per asset class:
`equity=alpaca,crypto=kraken` (a class not named keeps the paper market, so `make run` works
offline). Crypto symbols are `BASE/QUOTE`; everything else is an equity. Each source is fetched on
its own: one that fails leaves the other asset class's quotes flowing. Every fetch goes through
the shared Redis rate limiter, one slot per batch call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import ClassVar, Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from brokers.adapters.base import BrokerError, Quote
from brokers.adapters.capabilities import RateLimit
from brokers.adapters.paper import market_quotes
from brokers.adapters.paper.market import paper_fx_rates
from brokers.adapters.paper.universe import validate_symbol
from brokers.ratelimit import acquire
from brokers.symbols import symbol_normalize

SOURCES: dict[str, str] = {
    "paper": "watchlist.marketdata.PaperMarketData",
    "alpaca": "brokers.adapters.alpaca.marketdata.AlpacaMarketData",
    "kraken": "brokers.adapters.kraken.marketdata.KrakenMarketData",
    "coinbase": "brokers.adapters.coinbase.marketdata.CoinbaseMarketData",
}
ASSET_CLASSES = ("equity", "crypto")


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

    def fx_rates(self, currencies: Sequence[str], to: str) -> dict[str, Decimal]:
        """How many `to` one unit of each currency buys, for the currencies the paper market knows."""
        return paper_fx_rates(currencies, to)


@dataclass
class QuoteBatch:
    """One cycle's quotes, and what each failing source could not deliver (with its error)."""

    quotes: dict[str, Quote] = field(default_factory=dict)
    failed: dict[str, tuple[list[str], BrokerError]] = field(default_factory=dict)  # source key → (symbols, error)
    published: int = 0


@cache
def _load(path: str) -> MarketDataSource:
    try:
        source = import_string(path)()
    except (ImportError, TypeError) as exc:  # TypeError: not a class that builds without arguments
        raise ImproperlyConfigured(f"MARKET_DATA_SOURCE: cannot load {path!r}: {exc}") from exc
    if not isinstance(source, MarketDataSource):
        raise ImproperlyConfigured(f"MARKET_DATA_SOURCE: {path!r} is not a MarketDataSource")
    return source


def _named(name: str) -> MarketDataSource:
    name = name.strip()
    if "." not in name and name not in SOURCES:
        raise ImproperlyConfigured(f"MARKET_DATA_SOURCE: unknown source {name!r}; one of {', '.join(SOURCES)}")
    return _load(SOURCES.get(name, name))


@cache
def _sources(setting: str) -> dict[str, MarketDataSource]:
    if "=" not in setting:
        source = _named(setting)
        return dict.fromkeys(ASSET_CLASSES, source)
    chosen = dict.fromkeys(ASSET_CLASSES, _named("paper"))
    for part in filter(None, (p.strip() for p in setting.split(","))):
        asset_class, _, name = part.partition("=")
        if asset_class.strip() not in ASSET_CLASSES:
            raise ImproperlyConfigured(f"MARKET_DATA_SOURCE: unknown asset class {asset_class!r} in {setting!r}")
        chosen[asset_class.strip()] = _named(name)
    return chosen


def asset_class_of(symbol: str) -> str:
    return "crypto" if "/" in symbol_normalize(symbol) else "equity"


def market_data_source(asset_class: str = "equity") -> MarketDataSource:
    """The configured source of an asset class (one shared instance per process)."""
    return _sources(settings.MARKET_DATA_SOURCE)[asset_class]


def symbol_validate(symbol: str) -> str:
    """`symbol` in its source's canonical form (`" btc/usd "` → `"BTC/USD"`); raises InvalidSymbol."""
    return market_data_source(asset_class_of(symbol)).validate(symbol)


def quotes_fetch(symbols: Iterable[str], *, wait: float = 0.0) -> QuoteBatch:
    """Latest quotes of `symbols` (each asked for once), batched per source, one rate-limiter slot per batch.

    Waits up to `wait` seconds per batch for a slot. A source that fails (RateLimited included)
    is reported in `failed` with the symbols it owed; the other sources' quotes are still returned.
    """
    by_source: dict[str, tuple[MarketDataSource, list[str]]] = {}
    for symbol in sorted(set(symbols)):
        source = market_data_source(asset_class_of(symbol))
        by_source.setdefault(source.key, (source, []))[1].append(symbol)
    batch = QuoteBatch()
    for key, (source, wanted) in by_source.items():
        try:
            batch.quotes.update(_fetch(source, wanted, wait))
        except BrokerError as exc:
            batch.failed[key] = (wanted, exc)
    return batch


def _fetch(source: MarketDataSource, wanted: list[str], wait: float) -> dict[str, Quote]:
    quotes: dict[str, Quote] = {}
    for start in range(0, len(wanted), source.batch_size):
        acquire(broker=f"marketdata:{source.key}", identity=source.key, limit=source.rate_limit, wait=wait)
        quotes.update(source.quotes(wanted[start : start + source.batch_size]))
    return quotes


def fx_rates(currencies: Iterable[str], *, to: str) -> dict[str, Decimal]:
    """How many `to` one unit of each currency buys, from the first configured source that can say.

    A currency no source can convert is left out (the caller shows it unconverted). Sources
    offer FX through an optional `fx_rates(currencies, to)` method.
    """
    wanted = sorted({c.upper() for c in currencies} - {to.upper()})
    rates = {to.upper(): Decimal(1)}
    for source in dict.fromkeys(_sources(settings.MARKET_DATA_SOURCE).values()):
        convert = getattr(source, "fx_rates", None)
        missing = [c for c in wanted if c not in rates]
        if convert is None or not missing:
            continue
        try:
            rates.update(convert(missing, to.upper()))
        except BrokerError:
            continue
    return rates
