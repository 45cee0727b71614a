"""The simulator's state rendered as Alpaca's JSON, field for field as the API reference shows it.

Trading API money and quantities are JSON strings; Market Data API prices are JSON numbers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.simulators.alpaca.book import Asset, Book, SimOrder, now


def ts(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`, as Alpaca writes it."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def money(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def order(o: SimOrder, *, nested: bool = True) -> dict[str, Any]:
    """https://docs.alpaca.markets/reference/getorderbyorderid (the Order object)."""
    return {
        "id": o.id,
        "client_order_id": o.client_order_id,
        "created_at": ts(o.created_at),
        "updated_at": ts(o.updated_at),
        "submitted_at": ts(o.created_at),
        "filled_at": ts(o.filled_at),
        "expired_at": None,
        "canceled_at": ts(o.canceled_at),
        "failed_at": None,
        "replaced_at": None,
        "replaced_by": None,
        "replaces": None,
        "asset_id": o.asset_id,
        "symbol": o.symbol,
        "asset_class": "us_equity",
        "notional": None,
        "qty": money(o.qty),
        "filled_qty": money(o.filled_qty),
        "filled_avg_price": money(o.filled_avg_price),
        "order_class": o.order_class,
        "order_type": o.type,
        "type": o.type,
        "side": o.side,
        "position_intent": "buy_to_open" if o.side == "buy" else "sell_to_close",
        "time_in_force": o.time_in_force,
        "limit_price": money(o.limit_price),
        "stop_price": money(o.stop_price),
        "status": o.status,
        "extended_hours": False,
        "legs": [order(leg, nested=False) for leg in o.legs] if nested and o.legs else None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
        "subtag": None,
        "source": None,
        "expires_at": ts(o.created_at + timedelta(days=90)) if o.time_in_force == "gtc" else None,
    }


def account(book: Book) -> dict[str, Any]:
    """https://docs.alpaca.markets/reference/getaccount-1 (a cash account: multiplier 1)."""
    equity, long_value, power = book.equity(), book.market_value(), book.buying_power()
    return {
        "id": book.account_id,
        "admin_configurations": {},
        "user_configurations": None,
        "account_number": book.account_number,
        "status": "ACTIVE",
        "crypto_status": "ACTIVE",
        "options_approved_level": 0,
        "options_trading_level": 0,
        "currency": "USD",
        "buying_power": money(power),
        "regt_buying_power": money(power),
        "daytrading_buying_power": "0",
        "effective_buying_power": money(power),
        "non_marginable_buying_power": money(power),
        "options_buying_power": money(power),
        "bod_dtbp": "0",
        "cash": money(book.cash),
        "accrued_fees": "0",
        "portfolio_value": money(equity),
        "pattern_day_trader": False,
        "trading_blocked": False,
        "transfers_blocked": False,
        "account_blocked": False,
        "created_at": ts(book.created_at),
        "trade_suspended_by_user": False,
        "multiplier": "1",
        "shorting_enabled": False,
        "equity": money(equity),
        "last_equity": money(book.last_equity),
        "long_market_value": money(long_value),
        "short_market_value": "0",
        "position_market_value": money(long_value),
        "initial_margin": "0",
        "maintenance_margin": "0",
        "last_maintenance_margin": "0",
        "sma": "0",
        "daytrade_count": 0,
        "balance_asof": f"{now():%Y-%m-%d}",
        "crypto_tier": 1,
        "intraday_adjustments": "0",
        "pending_reg_taf_fees": "0",
    }


def position(book: Book, symbol: str) -> dict[str, Any]:
    """https://docs.alpaca.markets/reference/getallopenpositions (the Position object)."""
    lot, asset = book.positions[symbol], book.assets[symbol]
    value, cost = lot.qty * asset.price, lot.qty * lot.avg_price
    pnl = value - cost
    return {
        "asset_id": asset.id,
        "symbol": symbol,
        "exchange": asset.exchange,
        "asset_class": "us_equity",
        "asset_marginable": True,
        "qty": money(lot.qty),
        "avg_entry_price": money(lot.avg_price),
        "side": "long" if lot.qty > 0 else "short",
        "market_value": money(value),
        "cost_basis": money(cost),
        "unrealized_pl": money(pnl),
        "unrealized_plpc": money(pnl / cost if cost else Decimal(0)),
        "unrealized_intraday_pl": money(pnl),
        "unrealized_intraday_plpc": money(pnl / cost if cost else Decimal(0)),
        "current_price": money(asset.price),
        "lastday_price": money(asset.prev_close),
        "change_today": money((asset.price - asset.prev_close) / asset.prev_close),
        "qty_available": money(lot.qty - book.held_for_sells(symbol)),
    }


def asset(a: Asset) -> dict[str, Any]:
    """https://docs.alpaca.markets/reference/get-v2-assets-symbol_or_asset_id (equities: no price_increment)."""
    return {
        "id": a.id,
        "class": "us_equity",
        "exchange": a.exchange,
        "symbol": a.symbol,
        "name": a.name,
        "status": a.status,
        "tradable": a.tradable,
        "marginable": a.tradable,
        "maintenance_margin_requirement": 30,
        "margin_requirement_long": "30",
        "margin_requirement_short": "100",
        "shortable": a.shortable,
        "easy_to_borrow": a.shortable,
        "fractionable": a.fractionable,
        "attributes": ["fractional_eh_enabled"] if a.fractionable else [],
    }


def quote(a: Asset) -> dict[str, Any]:
    """https://docs.alpaca.markets/reference/stocklatestquotes (one quote: short keys, numbers)."""
    return {
        "t": ts(now()),
        "ax": "V",
        "ap": float(a.ask),
        "as": 2,
        "bx": "V",
        "bp": float(a.bid),
        "bs": 3,
        "c": ["R"],
        "z": "C",
    }


def _bar(a: Asset, close: Decimal, when: datetime, volume: Decimal) -> dict[str, Any]:
    return {
        "t": ts(when),
        "o": float(a.prev_close),
        "h": float(max(close, a.prev_close)),
        "l": float(min(close, a.prev_close)),
        "c": float(close),
        "v": int(volume),
        "n": 1200,
        "vw": float(close),
    }


def snapshot(a: Asset) -> dict[str, Any]:
    """https://docs.alpaca.markets/reference/stocksnapshots-1 (latest trade/quote, minute/daily/previous bars)."""
    today = now().replace(hour=4, minute=0, second=0, microsecond=0)
    return {
        "latestTrade": {
            "t": ts(now()),
            "x": "V",
            "p": float(a.price),
            "s": 100,
            "c": ["@"],
            "i": 52983525029461,
            "z": "C",
        },
        "latestQuote": quote(a),
        "minuteBar": _bar(a, a.price, now().replace(second=0, microsecond=0), a.volume / 390),
        "dailyBar": _bar(a, a.price, today, a.volume),
        "prevDailyBar": _bar(a, a.prev_close, today - timedelta(days=1), a.volume),
    }
