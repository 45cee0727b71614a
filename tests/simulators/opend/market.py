"""The simulated markets behind OpenD: listings, prices, tick rules and the enum numbers OpenD uses.

Numbers are those of futu-api's protos: `Qot_Common.QotMarket` (HK 1, US 11),
`Trd_Common.TrdMarket`/`TrdSecMarket` (HK 1, US 2), `Trd_Common.Currency` (HKD 1, USD 2).
HK prices follow HKEX's spread table; US stocks trade in cents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class MarketInfo:
    name: str  # "US", "HK"
    qot_market: int
    trd_market: int  # also its TrdSecMarket number
    currency: str
    currency_number: int
    tz: ZoneInfo


MARKETS = {
    "US": MarketInfo("US", 11, 2, "USD", 2, ZoneInfo("America/New_York")),
    "HK": MarketInfo("HK", 1, 1, "HKD", 1, ZoneInfo("Asia/Hong_Kong")),
}
BY_QOT = {info.qot_market: info for info in MARKETS.values()}
BY_TRD = {info.trd_market: info for info in MARKETS.values()}
CURRENCIES = {info.currency_number: info.currency for info in MARKETS.values()}
HKD_PER_USD = Decimal("7.8")

# HKEX spread table: (prices up to, tick).
HK_SPREADS = (
    (Decimal("0.25"), Decimal("0.001")),
    (Decimal("0.50"), Decimal("0.005")),
    (Decimal("10"), Decimal("0.01")),
    (Decimal("20"), Decimal("0.02")),
    (Decimal("100"), Decimal("0.05")),
    (Decimal("200"), Decimal("0.1")),
    (Decimal("500"), Decimal("0.2")),
    (Decimal("1000"), Decimal("0.5")),
    (Decimal("2000"), Decimal("1")),
    (Decimal("5000"), Decimal("2")),
    (Decimal("99999"), Decimal("5")),
)


@dataclass
class Listing:
    code: str  # OpenD's full code: "US.AAPL", "HK.00700"
    name: str
    lot_size: int
    price: Decimal
    prev_close: Decimal
    stock_id: int
    volume: int = 1_250_000

    @property
    def market(self) -> MarketInfo:
        return MARKETS[self.code.split(".", 1)[0]]

    @property
    def short_code(self) -> str:
        return self.code.split(".", 1)[1]

    @property
    def tick(self) -> Decimal:
        return tick_size(self.market.name, self.price)


_LISTINGS = (
    ("US.AAPL", "Apple Inc.", 1, "187.25", "185.10"),
    ("US.MSFT", "Microsoft Corp.", 1, "410.10", "408.00"),
    ("US.TSLA", "Tesla Inc.", 1, "175.40", "180.00"),
    ("US.SPY", "SPDR S&P 500 ETF", 1, "520.30", "518.90"),
    ("HK.00700", "TENCENT", 100, "380.20", "376.00"),
    ("HK.09988", "BABA-W", 100, "85.50", "84.00"),
    ("HK.00005", "HSBC HOLDINGS", 400, "65.30", "65.00"),
)


def listings() -> dict[str, Listing]:
    return {
        code: Listing(code, name, lot, Decimal(price), Decimal(prev), stock_id=70_000 + n)
        for n, (code, name, lot, price, prev) in enumerate(_LISTINGS)
    }


def tick_size(market: str, price: Decimal) -> Decimal:
    if market != "HK":
        return Decimal("0.01")
    return next((tick for upto, tick in HK_SPREADS if price <= upto), HK_SPREADS[-1][1])


def on_tick(market: str, price: Decimal) -> bool:
    return price > 0 and price % tick_size(market, price) == 0


def convert(amount: Decimal, source: str, target: str) -> Decimal:
    """An amount in another account currency (OpenD answers funds in the currency asked for)."""
    if source == target:
        return amount
    return amount * HKD_PER_USD if target == "HKD" else amount / HKD_PER_USD


def stamp(market: MarketInfo, moment: datetime | None = None) -> str:
    """OpenD's time strings: "YYYY-MM-DD HH:MM:SS.mmm" in the market's own time zone."""
    local = (moment or datetime.now(market.tz)).astimezone(market.tz)
    return local.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def decimal(value: float) -> Decimal:
    """A protobuf double as the decimal it was written from (shortest round-trip form)."""
    return Decimal(repr(float(value)))
