"""The paper market: deterministic, stateless random-walk prices as a function of time.

A price is `level x exp(deviation(t))`, where the deviation is a sum of "value noise" at
scales of 1 s, 4 s, 16 s … 4¹¹ s (≈ 48 days): at each scale, Gaussians hashed from
(symbol, scale, knot) sit on a grid with that spacing and are interpolated linearly between
knots. Giving a scale of length T an amplitude ∝ √T makes increments look like a Brownian walk
at every horizon up to the largest scale, beyond which the walk stops wandering (it is
stationary), so prices stay near their level for ever. A soft `tanh` bound caps the extremes.

Nothing is stored and nothing is iterated over elapsed time: a quote costs a few dozen
hashes, and every process computes the same price for the same (symbol, second).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from brokers.adapters.base import Quote
from brokers.adapters.paper.universe import LISTINGS, Listing, canonical, listing

SOURCE = "paper"
DAY = 86_400
_M64 = (1 << 64) - 1
_SCALES = tuple(4**k for k in range(12))
# Calibrated so the standard deviation of a 24h log return matches the listing's daily_vol.
_KAPPA = 0.8
# Log-deviation cap: prices stay within about x0.7…x1.4 of their level.
_BOUND = 0.35
_SPREAD_BPS = {False: 2, True: 4}  # stocks, crypto
_PCT = Decimal("0.01")
_VOLUME_QUANTUM = {False: Decimal(1), True: Decimal("0.01")}


@dataclass(frozen=True)
class _Walk:
    listing: Listing
    tick: float
    keys: tuple[int, ...]  # one hash key per scale
    amps: tuple[float, ...]  # log-price amplitude per scale
    volume_keys: tuple[int, int]


def _mix(x: int) -> int:
    """SplitMix64's finaliser: a fast, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _gauss(h: int) -> float:
    """A standard normal from 64 hashed bits (Box-Muller on its two 32-bit halves)."""
    u1 = ((h >> 32) + 0.5) / 4294967296.0
    u2 = (h & 0xFFFFFFFF) / 4294967296.0
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def _noise(key: int, scale: int, second: int) -> float:
    """Value noise at one scale: hashed Gaussians on knots `scale` seconds apart, linearly joined."""
    knot, offset = divmod(second, scale)
    left = _gauss(_mix(key + knot))
    if not offset:
        return left
    right = _gauss(_mix(key + knot + 1))
    return left + (right - left) * (offset / scale)


def _seed(symbol: str) -> int:
    # hashlib, not hash(): str hashes are salted per process and would differ between workers.
    return int.from_bytes(hashlib.blake2b(symbol.encode(), digest_size=8).digest(), "big")


def _walk_for(item: Listing) -> _Walk:
    seed = _seed(item.symbol)
    per_root_second = item.daily_vol / math.sqrt(DAY)
    return _Walk(
        listing=item,
        tick=float(item.tick),
        keys=tuple(_mix(seed ^ (k + 1)) for k in range(len(_SCALES))),
        amps=tuple(_KAPPA * per_root_second * math.sqrt(scale) for scale in _SCALES),
        volume_keys=(_mix(seed ^ 0xA5A5), _mix(seed ^ 0x5A5A)),
    )


_WALKS = {symbol: _walk_for(item) for symbol, item in LISTINGS.items()}


def _deviation(walk: _Walk, second: int) -> float:
    raw = sum(amp * _noise(key, scale, second) for key, scale, amp in zip(walk.keys, _SCALES, walk.amps, strict=True))
    return _BOUND * math.tanh(raw / _BOUND)


def _ticks(walk: _Walk, second: int) -> int:
    """The price in ticks, on the tick whose parity matches the second's.

    Rounding to the nearest tick of the right parity moves a price by at most one tick and
    guarantees that two consecutive seconds never show the same price, so a poller that only
    publishes changed quotes always has something to publish.
    """
    exact = walk.listing.level * math.exp(_deviation(walk, second)) / walk.tick
    ticks = round(exact)
    if (ticks - second) % 2:
        ticks += 1 if exact > ticks else -1
    return ticks


def _price(walk: _Walk, second: int) -> Decimal:
    return Decimal(_ticks(walk, second)) * walk.listing.tick


def _volume(walk: _Walk, second: int) -> Decimal:
    """Rolling 24h volume, drifting ±20-30 % around the listing's typical day."""
    hourly, minutely = walk.volume_keys
    swing = 0.2 * _noise(hourly, 3_600, second) + 0.05 * _noise(minutely, 60, second)
    units = walk.listing.daily_volume * math.exp(swing)
    return Decimal(repr(units)).quantize(_VOLUME_QUANTUM[walk.listing.crypto])


def _half_spread(walk: _Walk, price: Decimal) -> Decimal:
    bps = _SPREAD_BPS[walk.listing.crypto]
    ticks = max(1, round(float(price) * bps / 20_000 / walk.tick))
    return ticks * walk.listing.tick


def market_second(at: datetime | None = None) -> int:
    """The whole UNIX second the market shows at `at` (an aware datetime; now when None)."""
    if at is None:
        return math.floor(time.time())
    if at.tzinfo is None:
        raise ValueError("market time must be an aware datetime")
    return math.floor(at.timestamp())


# Prices held still by hand (a demo, a test): symbol → price. The walk resumes when released.
_PINNED: dict[str, Decimal] = {}


def pin_price(symbol: str, price: Decimal | None) -> None:
    """Hold `symbol` at `price` in this process's paper market (None releases it)."""
    canonical = listing(symbol).symbol
    if price is None:
        _PINNED.pop(canonical, None)
    else:
        _PINNED[canonical] = price


def _quote(walk: _Walk, second: int) -> Quote:
    price = _PINNED.get(walk.listing.symbol) or _price(walk, second)
    change = price - _price(walk, second - DAY)
    half = _half_spread(walk, price)
    return Quote(
        symbol=walk.listing.symbol,
        price=price,
        bid=price - half,
        ask=price + half,
        change=change,
        change_pct=(change * 100 / (price - change)).quantize(_PCT),
        volume=_volume(walk, second),
        as_of=datetime.fromtimestamp(second, tz=UTC),
        source=SOURCE,
    )


def market_quote(symbol: str, at: datetime | None = None) -> Quote:
    """The paper market's quote for `symbol` (any accepted spelling) at `at` (default now).

    `change`/`change_pct` compare with the price 24 hours earlier; `as_of` is the whole second
    the quote is for. Raises InvalidSymbol for a symbol the market does not list.
    """
    return _quote(_WALKS[listing(symbol).symbol], market_second(at))


def market_quotes(symbols: Iterable[str], at: datetime | None = None) -> dict[str, Quote]:
    """Quotes keyed by canonical symbol, all for the same second; unknown symbols are left out."""
    second = market_second(at)
    found = {found for symbol in symbols if (found := canonical(symbol))}
    return {symbol: _quote(_WALKS[symbol], second) for symbol in sorted(found)}


# What one unit of each currency is worth in US dollars, round figures of 2024-25: the paper
# market's FX, so a portfolio holding EUR or HKD sums offline.
_USD_PER_UNIT = {
    "USD": Decimal(1),
    "EUR": Decimal("1.08"),
    "GBP": Decimal("1.27"),
    "CHF": Decimal("1.12"),
    "CAD": Decimal("0.73"),
    "AUD": Decimal("0.66"),
    "HKD": Decimal("0.128"),
    "JPY": Decimal("0.0067"),
    "SGD": Decimal("0.74"),
}


def paper_fx_rates(currencies: Iterable[str], to: str) -> dict[str, Decimal]:
    """How many `to` one unit of each currency buys; currencies the paper market does not know are left out."""
    if to not in _USD_PER_UNIT:
        return {}
    return {
        c: (_USD_PER_UNIT[c] / _USD_PER_UNIT[to]).quantize(Decimal("1e-8")) for c in currencies if c in _USD_PER_UNIT
    }
