"""What the Kraken simulator lists: assets and pairs in Kraken's own naming, and how it formats numbers.

Kraken names legacy assets with an X (crypto) or Z (fiat) prefix (XXBT, XETH, ZUSD) and pairs by
concatenating them (XXBTZUSD), with a shorter `altname` (XBTUSD) and a `wsname` (XBT/USD); newer
assets have no prefix (SOL, SOLUSD). https://docs.kraken.com/api-reference/market-data/get-asset-info
https://docs.kraken.com/api-reference/market-data/get-tradable-asset-pairs
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# Asset id → (altname, decimals, display_decimals).
ASSETS: dict[str, tuple[str, int, int]] = {
    "XXBT": ("XBT", 10, 5),
    "XETH": ("ETH", 10, 5),
    "SOL": ("SOL", 10, 5),
    "XXDG": ("XDG", 8, 2),
    "ZUSD": ("USD", 4, 2),
    "ZEUR": ("EUR", 4, 2),
}

# Starter-tier fee schedules as AssetPairs publishes them: [volume, percent].
TAKER_TIERS = [[0, 0.26], [50000, 0.24], [100000, 0.22], [250000, 0.2], [500000, 0.18], [1000000, 0.16]]
MAKER_TIERS = [[0, 0.16], [50000, 0.14], [100000, 0.12], [250000, 0.1], [500000, 0.08], [1000000, 0.06]]
TAKER_PCT = Decimal("0.26")
MAKER_PCT = Decimal("0.16")


@dataclass(frozen=True)
class Pair:
    id: str  # XXBTZUSD
    altname: str  # XBTUSD: what descr.pair and descr.order name
    wsname: str  # XBT/USD
    base: str  # asset id
    quote: str
    symbol: str  # our canonical form (BTC/USD), for the controls tests call
    pair_decimals: int
    lot_decimals: int
    ordermin: Decimal
    costmin: Decimal
    tick_size: Decimal
    price: Decimal  # the opening price of the simulated day
    cost_decimals: int = 5

    def px(self, value: Decimal) -> str:
        """A price as Kraken prints it: `pair_decimals` places."""
        return fixed(value, self.pair_decimals)

    def body(self) -> dict[str, Any]:
        """The AssetPairs entry, as the reference documents it."""
        return {
            "altname": self.altname,
            "wsname": self.wsname,
            "aclass_base": "currency",
            "base": self.base,
            "aclass_quote": "currency",
            "quote": self.quote,
            "lot": "unit",
            "cost_decimals": self.cost_decimals,
            "pair_decimals": self.pair_decimals,
            "lot_decimals": self.lot_decimals,
            "lot_multiplier": 1,
            "leverage_buy": [],
            "leverage_sell": [],
            "fees": TAKER_TIERS,
            "fees_maker": MAKER_TIERS,
            "fee_volume_currency": "ZUSD",
            "margin_call": 80,
            "margin_stop": 40,
            "ordermin": plain(self.ordermin),
            "costmin": plain(self.costmin),
            "tick_size": plain(self.tick_size),
            "status": "online",
        }


# id, altname, wsname, base, quote, our symbol, pair_decimals, ordermin, tick_size, opening price
_ROWS = (
    ("XXBTZUSD", "XBTUSD", "XBT/USD", "XXBT", "ZUSD", "BTC/USD", 1, "0.0001", "0.1", "30000.0"),
    ("XETHZUSD", "ETHUSD", "ETH/USD", "XETH", "ZUSD", "ETH/USD", 2, "0.002", "0.01", "2000.00"),
    ("SOLUSD", "SOLUSD", "SOL/USD", "SOL", "ZUSD", "SOL/USD", 2, "0.02", "0.01", "150.00"),
    ("XDGUSD", "XDGUSD", "XDG/USD", "XXDG", "ZUSD", "DOGE/USD", 7, "13", "0.0000001", "0.0800000"),
    ("XXBTZEUR", "XBTEUR", "XBT/EUR", "XXBT", "ZEUR", "BTC/EUR", 1, "0.0001", "0.1", "27000.0"),
)
PAIRS: tuple[Pair, ...] = tuple(
    Pair(
        *names,
        pair_decimals=decimals,
        lot_decimals=8,
        ordermin=Decimal(ordermin),
        costmin=Decimal("0.5"),
        tick_size=Decimal(tick),
        price=Decimal(price),
    )
    for *names, decimals, ordermin, tick, price in _ROWS
)


def find_pair(name: str) -> Pair | None:
    """A pair by any of the names Kraken accepts in `pair=` (id, altname, wsname), or our symbol."""
    for pair in PAIRS:
        if name in (pair.id, pair.altname, pair.wsname, pair.symbol):
            return pair
    return None


def fixed(value: Decimal, places: int) -> str:
    return format(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP), "f")


def plain(value: Decimal) -> str:
    """`value` without trailing zeros and never in exponent notation."""
    text = format(value.normalize(), "f")
    return text


def asset_body(asset: str) -> dict[str, Any]:
    altname, decimals, display = ASSETS[asset]
    return {
        "aclass": "currency",
        "altname": altname,
        "decimals": decimals,
        "display_decimals": display,
        "collateral_value": 1,
        "status": "enabled",
    }
