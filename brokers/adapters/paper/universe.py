"""What the paper market lists: symbols, their price levels, volatility and trading volume.

Pure data plus symbol validation; no Django, no state. Levels are round figures near where
these instruments traded in 2024-25, so screens look plausible without an internet feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from brokers.adapters.base import Instrument, InvalidSymbol
from brokers.symbols import symbol_normalize


@dataclass(frozen=True)
class Listing:
    symbol: str
    level: float  # the price the walk wanders around
    daily_vol: float  # standard deviation of a 24h log return
    daily_volume: float  # units traded in a typical 24h
    crypto: bool

    @property
    def tick(self) -> Decimal:
        """Price increment: cents for stocks and most pairs, finer for pairs priced in cents."""
        if not self.crypto or self.level >= 100:
            return Decimal("0.01")
        if self.level >= 1:
            return Decimal("0.001")
        return Decimal("0.00001")


_STOCKS = {
    # symbol: (level, daily vol, shares per day)
    "AAPL": (210, 0.016, 55e6),
    "MSFT": (420, 0.014, 20e6),
    "NVDA": (125, 0.030, 250e6),
    "AMZN": (190, 0.019, 40e6),
    "GOOGL": (170, 0.018, 25e6),
    "META": (520, 0.022, 14e6),
    "TSLA": (240, 0.035, 95e6),
    "AMD": (150, 0.028, 45e6),
    "NFLX": (650, 0.021, 4e6),
    "AVGO": (170, 0.025, 25e6),
    "ORCL": (150, 0.019, 9e6),
    "CRM": (270, 0.018, 6e6),
    "ADBE": (520, 0.018, 3e6),
    "INTC": (25, 0.027, 60e6),
    "JPM": (210, 0.013, 9e6),
    "V": (280, 0.011, 6e6),
    "MA": (480, 0.011, 3e6),
    "WMT": (80, 0.010, 15e6),
    "KO": (65, 0.009, 13e6),
    "PEP": (165, 0.010, 6e6),
    "DIS": (100, 0.016, 9e6),
    "BA": (170, 0.022, 8e6),
    "XOM": (115, 0.014, 15e6),
    "JNJ": (155, 0.009, 7e6),
    "PG": (165, 0.009, 6e6),
    "UNH": (520, 0.015, 4e6),
    "HD": (370, 0.013, 3e6),
    "COST": (880, 0.012, 2e6),
    "SPY": (560, 0.009, 60e6),
    "QQQ": (480, 0.012, 40e6),
    "IWM": (215, 0.013, 30e6),
    "DIA": (420, 0.008, 3e6),
}

_CRYPTO = {
    # base currency: (level in USD, daily vol, units per day)
    "BTC": (65000, 0.030, 30e3),
    "ETH": (3200, 0.038, 350e3),
    "SOL": (150, 0.050, 3e6),
    "XRP": (0.55, 0.045, 1.2e9),
    "ADA": (0.45, 0.045, 5e8),
    "DOGE": (0.14, 0.055, 3e9),
    "AVAX": (30, 0.050, 12e6),
    "LINK": (15, 0.045, 20e6),
    "DOT": (6.5, 0.045, 30e6),
    "LTC": (80, 0.038, 3e6),
}

LISTINGS: dict[str, Listing] = {
    **{sym: Listing(sym, float(lvl), vol, qty, crypto=False) for sym, (lvl, vol, qty) in _STOCKS.items()},
    **{f"{b}/USD": Listing(f"{b}/USD", float(lvl), vol, qty, crypto=True) for b, (lvl, vol, qty) in _CRYPTO.items()},
}


def symbols() -> tuple[str, ...]:
    """Every symbol the paper market quotes, stocks first."""
    return tuple(LISTINGS)


def canonical(symbol: object) -> str | None:
    """`symbol` in canonical form (upper case, no whitespace) if the market lists it, else None."""
    if not isinstance(symbol, str):
        return None
    candidate = symbol_normalize(symbol)
    return candidate if candidate in LISTINGS else None


def validate_symbol(symbol: object) -> str:
    """The canonical form of `symbol` (`" btc/usd "` → `"BTC/USD"`); raises InvalidSymbol."""
    found = canonical(symbol)
    if found is None:
        raise InvalidSymbol(
            f"Unknown symbol {symbol!r}: the paper market lists US stocks such as AAPL and "
            "crypto pairs such as BTC/USD."
        )
    return found


# Stocks trade fractionally and crypto in small units: to the books' precision, from one quantum up.
_LOT = Decimal("1e-10")


def instrument(item: Listing) -> Instrument:
    """How the paper broker trades a listing (an Instrument for the shared checks)."""
    return Instrument(
        symbol=item.symbol,
        asset_class="crypto" if item.crypto else "equity",
        broker_symbol=item.symbol,
        tick_size=item.tick,
        lot_size=_LOT,
        min_qty=_LOT,
        fractional=True,
    )


def listing(symbol: str) -> Listing:
    """The listing of a symbol in any accepted spelling; raises InvalidSymbol."""
    return LISTINGS[validate_symbol(symbol)]
