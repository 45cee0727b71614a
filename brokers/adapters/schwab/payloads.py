"""Schwab's JSON ⇄ our value types: accounts (`SecuritiesAccount`), quotes, instruments, previews.

Orders are in `orders.py`. Numbers are read as Decimals straight from the JSON text, never floats.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from brokers.adapters.base import (
    Balance,
    FeeSchedule,
    Instrument,
    InvalidSymbol,
    Position,
    Quote,
)

SOURCE = "schwab"
TICK = Decimal("0.01")
ZERO = Decimal(0)


def body(response: httpx.Response) -> Any:
    """The JSON of a Schwab answer, numbers as Decimals (never floats)."""
    return json.loads(response.content or b"null", parse_float=Decimal)


def dec(value: Any, default: Decimal = ZERO) -> Decimal:
    return default if value is None or value == "" else Decimal(str(value))


def schwab_symbol(symbol: str) -> str:
    """Schwab's symbol for a canonical one; crypto pairs (`BTC/USD`) are not traded there."""
    text = symbol.strip().upper()
    if not text or "/" in text:
        raise InvalidSymbol(f"Schwab does not trade {symbol!r} (US stocks and ETFs only).")
    return text


def parse_time(text: Any) -> datetime | None:
    """Schwab's `2024-03-29T14:20:23+0000`, or ISO-8601 with `Z`."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- account, market data --------------------------------------------------------------------


def _first(values: dict[str, Any], *names: str) -> Decimal | None:
    return next((dec(values[name]) for name in names if values.get(name) is not None), None)


def positions(account: dict[str, Any]) -> list[Position]:
    """Stock and ETF positions (options and other assets are not traded through Tradewire)."""
    found = []
    for item in (account.get("securitiesAccount") or {}).get("positions") or []:
        instrument = item.get("instrument") or {}
        if instrument.get("assetType") not in ("EQUITY", "COLLECTIVE_INVESTMENT"):
            continue
        qty = dec(item.get("longQuantity")) - dec(item.get("shortQuantity"))
        if qty == 0:
            continue
        value = dec(item.get("marketValue"))
        avg = _first(item, "averagePrice", "averageLongPrice", "averageShortPrice") or ZERO
        found.append(Position(str(instrument.get("symbol", "")), qty, avg, value / qty, value, value - qty * avg))
    return found


def balance(account: dict[str, Any], *, as_of: datetime) -> Balance:
    """Cash, equity (liquidation value) and buying power, from a margin or a cash account alike."""
    current = (account.get("securitiesAccount") or {}).get("currentBalances") or {}
    cash = _first(current, "cashBalance", "totalCash", "cashAvailableForTrading") or ZERO
    held = sum((p.market_value for p in positions(account)), ZERO)
    aggregated = account.get("aggregatedBalance") or {}
    equity = _first(current, "liquidationValue", "equity") or _first(aggregated, "currentLiquidationValue")
    buying_power = _first(current, "buyingPower", "stockBuyingPower", "cashAvailableForTrading")
    return Balance(
        currency="USD",
        cash=cash,
        equity=equity if equity is not None else cash + held,
        buying_power=buying_power if buying_power is not None else cash,
        as_of=as_of,
    )


def quote(symbol: str, item: dict[str, Any], *, now: datetime) -> Quote | None:
    data = item.get("quote") or {}
    price = _first(data, "lastPrice", "mark", "closePrice")
    if price is None:
        return None
    stamp = data.get("quoteTime") or data.get("tradeTime")
    return Quote(
        symbol=symbol,
        price=price,
        bid=_first(data, "bidPrice") or price,
        ask=_first(data, "askPrice") or price,
        change=_first(data, "netChange") or ZERO,
        change_pct=_first(data, "netPercentChange") or ZERO,
        volume=_first(data, "totalVolume") or ZERO,
        as_of=datetime.fromtimestamp(int(stamp) / 1000, tz=UTC) if stamp else now,
        source=SOURCE,
    )


def instrument(symbol: str, item: dict[str, Any]) -> Instrument:
    """Stocks and ETFs (both "equity" here) trade in whole shares, priced in cents."""
    return Instrument(
        symbol=symbol,
        asset_class="equity",
        broker_symbol=str(item.get("symbol", symbol)),
        tick_size=TICK,
        lot_size=Decimal(1),
        min_qty=Decimal(1),
    )


def fee_schedule(preview: dict[str, Any]) -> FeeSchedule:
    """What `previewOrder` says one share costs in commission and fees, as a per-order charge."""
    fees = preview.get("commissionAndFee") or {}
    values = [
        value.get("value")
        for part, legs, key in (("commission", "commissionLegs", "commissionValues"), ("fee", "feeLegs", "feeValues"))
        for leg in (fees.get(part) or {}).get(legs) or []
        for value in leg.get(key) or []
    ]
    per_order = sum((dec(v) for v in values), ZERO)
    return FeeSchedule(
        maker_pct=ZERO,
        taker_pct=ZERO,
        per_order=per_order,
        currency="USD",
        note="From Schwab's order preview of one share; online US stock and ETF trades carry no commission, "
        "sales pay the SEC and FINRA fees.",
    )
