"""The event catalogue: every WebSocket event name and payload builder, in one place.

The emitter, the consumer, the JavaScript client (static/js/events.js is generated from
EVENT_NAMES and checked by a test) and the tests all take names from here.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from config.money import money_str
from config.times import iso_utc, now_iso

READY = "ready"
ERROR = "error"
PONG = "pong"
SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"
PORTFOLIO_UPDATE = "portfolio:update"
TRADE_EXECUTED = "trade:executed"
TRADE_FAILED = "trade:failed"
WATCHLIST_QUOTE = "watchlist:quote"
BOT_SIGNAL = "bot:signal"

SERVER_EVENTS = (
    READY,
    ERROR,
    PONG,
    SUBSCRIBED,
    UNSUBSCRIBED,
    PORTFOLIO_UPDATE,
    TRADE_EXECUTED,
    TRADE_FAILED,
    WATCHLIST_QUOTE,
    BOT_SIGNAL,
)


CLIENT_ACTIONS = ("subscribe", "unsubscribe", "ping")


def js_module() -> str:
    """`export const EVENTS = {...}` for static/js/realtime.js and the pages."""
    names = {name: value for name, value in globals().items() if name.isupper() and value in SERVER_EVENTS}
    body = ",\n".join(f"  {name}: {json.dumps(value)}" for name, value in sorted(names.items()))
    return f"// Generated from realtime/events.py.\nexport const EVENTS = Object.freeze({{\n{body},\n}});\n"


def envelope(event: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"event": event, "data": data, "ts": now_iso()}


def error(code: str, message: str) -> dict[str, Any]:
    return envelope(ERROR, {"code": code, "message": message})


def trade_executed(order: Any) -> dict[str, Any]:
    """`trade:executed` data for an order (filled or partially filled)."""
    return {
        "order_id": str(order.id),
        "client_order_id": order.client_order_id,
        "broker": order.broker,
        "symbol": order.symbol,
        "side": order.side,
        "qty": money_str(order.qty),
        "price": money_str(order.avg_fill_price),
        "fee": money_str(order.fee),
        "status": order.status,
        "filled_qty": money_str(order.filled_qty),
    }


def trade_failed(order: Any) -> dict[str, Any]:
    """`trade:failed` data for an order the broker rejected or we could not submit."""
    return {
        "order_id": str(order.id),
        "client_order_id": order.client_order_id,
        "broker": order.broker,
        "symbol": order.symbol,
        "side": order.side,
        "qty": money_str(order.qty),
        "error": {"code": order.error_code, "message": order.error_message},
    }


def watchlist_quote(quote: Any, *, stale: bool = False) -> dict[str, Any]:
    """`watchlist:quote` data from a `brokers.adapters.base.Quote`; `stale` when its source has stopped answering."""
    return {
        "symbol": quote.symbol,
        "price": money_str(quote.price),
        "bid": money_str(quote.bid),
        "ask": money_str(quote.ask),
        "change": money_str(quote.change),
        "change_pct": money_str(quote.change_pct),
        "volume": money_str(quote.volume),
        "as_of": iso_utc(quote.as_of),
        "source": quote.source,
        "stale": stale,
    }


def _money(value: Any) -> str | None:
    """A model's number as a string, also before the database has made it a Decimal (a new row's default 0)."""
    return None if value is None else money_str(Decimal(value))


def _iso(moment: Any) -> str | None:
    return None if moment is None else iso_utc(moment)


def bot_signal(signal: Any, orders: Any) -> dict[str, Any]:
    """`bot:signal` data: a bot's signal record (the same shape as the API's signal log), with its orders."""
    return {
        "id": str(signal.id),
        "bot_id": str(signal.bot_id),
        "received_at": _iso(signal.received_at),
        "payload": signal.payload if signal.payload is not None else signal.raw,
        "status": signal.status,
        "reason": {"code": signal.reason_code, "message": signal.reason_message} if signal.reason_code else None,
        "orders": [
            {
                "order_id": str(order.id),
                "broker": order.broker,
                "symbol": order.symbol,
                "side": order.side,
                "qty": _money(order.qty),
                "status": order.status,
                "filled_qty": _money(order.filled_qty),
                "avg_fill_price": _money(order.avg_fill_price),
            }
            for order in orders
        ],
        "replay_of": str(signal.replay_of_id) if signal.replay_of_id else None,
        "decided_at": _iso(signal.decided_at),
        "settled_at": _iso(signal.settled_at),
    }
