"""Coinbase's products, accounts and fee tier into our value types (and symbols both ways).

Every number is built from Coinbase's decimal strings (ccxt's unified structures hold floats, so
the raw `info` bodies are read instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from brokers.adapters.base import Balance, FeeSchedule, Instrument, InvalidSymbol, Position, Quote

SOURCE = "coinbase"
CASH_ACCOUNT = "ACCOUNT_TYPE_FIAT"
PCT = Decimal("0.01")


def dec(value: Any) -> Decimal:
    """A Decimal from Coinbase's string (or number); "" and null are zero."""
    if value is None or value == "":
        return Decimal(0)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def plain(value: Decimal) -> str:
    """How Coinbase wants a size or price: plain notation, no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


def product_id(symbol: str) -> str:
    """`BTC/USD` (or `btc-usd`) → Coinbase's `BTC-USD`; InvalidSymbol for anything else."""
    base, sep, quote = symbol.strip().upper().replace("-", "/").partition("/")
    if not sep or not base or not quote or "/" in quote:
        raise InvalidSymbol(f"{symbol!r} is not a crypto pair like BTC/USD.")
    return f"{base}-{quote}"


def symbol_of(product: str) -> str:
    return product.replace("-", "/")


def is_tradable(info: Mapping[str, Any]) -> bool:
    return info.get("product_type", "SPOT") == "SPOT" and not (info.get("trading_disabled") or info.get("is_disabled"))


def instrument(info: Mapping[str, Any]) -> Instrument:
    """A spot product: prices step by its price (quote) increment, sizes by its base increment."""
    return Instrument(
        symbol=symbol_of(str(info["product_id"])),
        asset_class="crypto",
        broker_symbol=str(info["product_id"]),
        tick_size=dec(info.get("price_increment") or info.get("quote_increment")),
        lot_size=dec(info.get("base_increment")),
        min_qty=dec(info.get("base_min_size")),
        fractional=True,
        currency=str(info.get("quote_currency_id") or info["product_id"].split("-")[1]),
    )


def _best(levels: Any) -> Decimal | None:
    return dec(levels[0].get("price")) if isinstance(levels, list) and levels else None


def quote(product: Mapping[str, Any], book: Mapping[str, Any] | None, *, now: datetime) -> Quote:
    """A quote from a product (last price, 24h change %, volume) and, when known, its best bid/ask.

    Without a book (Coinbase's public batch carries none) bid and ask are the last price.
    """
    price = dec(product.get("price"))
    pct = dec(product.get("price_percentage_change_24h"))
    tick = dec(product.get("price_increment") or product.get("quote_increment")) or Decimal("0.00000001")
    previous = price / (1 + pct / 100) if pct > -100 else price
    book = book or {}
    as_of = datetime.fromisoformat(str(book["time"]).replace("Z", "+00:00")) if book.get("time") else now
    return Quote(
        symbol=symbol_of(str(product["product_id"])),
        price=price,
        bid=_best(book.get("bids")) or price,
        ask=_best(book.get("asks")) or price,
        change=(price - previous).quantize(tick),
        change_pct=pct.quantize(PCT),
        volume=dec(product.get("volume_24h")),
        as_of=as_of,
        source=SOURCE,
    )


@dataclass(frozen=True)
class Holding:
    currency: str
    available: Decimal
    hold: Decimal
    cash: bool  # a fiat account (not a position)

    @property
    def total(self) -> Decimal:
        return self.available + self.hold


def holdings(accounts: Iterable[Mapping[str, Any]]) -> dict[str, Holding]:
    """Brokerage accounts (one per currency) by currency, zero balances left out."""
    found: dict[str, Holding] = {}
    for account in accounts:
        available = dec((account.get("available_balance") or {}).get("value"))
        held = dec((account.get("hold") or {}).get("value"))
        currency = str(account.get("currency"))
        before = found.get(currency)
        if before is not None:
            available, held = available + before.available, held + before.hold
        if available or held:
            found[currency] = Holding(currency, available, held, account.get("type") == CASH_ACCOUNT)
    return found


def balance(held: Mapping[str, Holding], prices: Mapping[str, Decimal], *, currency: str, now: datetime) -> Balance:
    """Cash is the account currency's wallet (held amounts included), buying power what is not on hold;
    equity adds every other holding valued at its last price in that currency (unpriced ones are left out)."""
    cash_wallet = held.get(currency) or Holding(currency, Decimal(0), Decimal(0), True)
    others = sum((h.total * prices[c] for c, h in held.items() if c != currency and c in prices), Decimal(0))
    return Balance(
        currency=currency,
        cash=cash_wallet.total,
        equity=cash_wallet.total + others,
        buying_power=cash_wallet.available,
        as_of=now,
    )


def position(holding: Holding, price: Decimal, average: Decimal | None, *, currency: str) -> Position:
    """A crypto holding valued at the last price; its average entry price from the portfolio breakdown."""
    average = price if average is None or average <= 0 else average
    return Position(
        symbol=f"{holding.currency}/{currency}",
        qty=holding.total,
        avg_price=average,
        market_price=price,
        market_value=holding.total * price,
        unrealized_pnl=(price - average) * holding.total,
    )


def average_entry_prices(breakdown: Mapping[str, Any], *, currency: str) -> dict[str, Decimal]:
    """Average entry price per asset from a portfolio breakdown (priced in `currency` only)."""
    prices = {}
    for spot in (breakdown.get("breakdown") or {}).get("spot_positions") or []:
        entry = spot.get("average_entry_price") or {}
        if entry.get("currency", currency) == currency and dec(entry.get("value")) > 0:
            prices[str(spot.get("asset"))] = dec(entry.get("value"))
    return prices


def portfolio_currency(breakdown: Mapping[str, Any]) -> str:
    balances = (breakdown.get("breakdown") or {}).get("portfolio_balances") or {}
    return str((balances.get("total_balance") or {}).get("currency") or "USD")


def fee_schedule(summary: Mapping[str, Any], *, currency: str) -> FeeSchedule:
    """Transaction summary's fee tier: rates are fractions (0.006), ours are percent units (0.6)."""
    tier = summary.get("fee_tier") or {}
    return FeeSchedule(
        maker_pct=dec(tier.get("maker_fee_rate")) * 100,
        taker_pct=dec(tier.get("taker_fee_rate")) * 100,
        currency=currency,
        note=f"Coinbase Advanced pricing tier {tier.get('pricing_tier') or 'unknown'}; charged in the quote currency.",
    )
