"""The event catalogue: every WebSocket event name and payload builder, in one place.

The emitter, the consumer, the JavaScript client (static/js/events.js is generated from
EVENT_NAMES and checked by a test) and the tests all take names from here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from config.money import money_str

READY = "ready"
ERROR = "error"
PONG = "pong"
SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"
PORTFOLIO_UPDATE = "portfolio:update"
TRADE_EXECUTED = "trade:executed"
TRADE_FAILED = "trade:failed"
WATCHLIST_QUOTE = "watchlist:quote"

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
)


CLIENT_ACTIONS = ("subscribe", "unsubscribe", "ping")


def js_module() -> str:
    """`export const EVENTS = {...}` for static/js/realtime.js and the pages."""
    names = {name: value for name, value in globals().items() if name.isupper() and value in SERVER_EVENTS}
    body = ",\n".join(f"  {name}: {json.dumps(value)}" for name, value in sorted(names.items()))
    return f"// Generated from realtime/events.py.\nexport const EVENTS = Object.freeze({{\n{body},\n}});\n"


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


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


def watchlist_quote(quote: Any) -> dict[str, Any]:
    """`watchlist:quote` data from a `brokers.adapters.base.Quote`."""
    return {
        "symbol": quote.symbol,
        "price": money_str(quote.price),
        "bid": money_str(quote.bid),
        "ask": money_str(quote.ask),
        "change": money_str(quote.change),
        "change_pct": money_str(quote.change_pct),
        "volume": money_str(quote.volume),
        "as_of": quote.as_of.isoformat().replace("+00:00", "Z"),
        "source": quote.source,
    }
