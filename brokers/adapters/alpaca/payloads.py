"""Alpaca ⇄ ours: alpaca-py's request and response models to and from our value types.

Symbols: Tradewire trades US equities at Alpaca; the canonical form (`AAPL`, `BRK.B`) is
Alpaca's own. alpaca-py's request models take floats and its data models return floats: we
send `float(Decimal)` (at most 15 significant digits, which JSON's shortest repr keeps exactly)
and read every number back through `str`, so no binary fraction reaches our Decimals.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from alpaca.data.models import Quote as AlpacaQuote
from alpaca.data.models import Snapshot
from alpaca.trading.enums import OrderClass
from alpaca.trading.enums import OrderSide as AlpacaSide
from alpaca.trading.enums import TimeInForce as AlpacaTIF
from alpaca.trading.models import Asset, Order, TradeAccount
from alpaca.trading.models import Position as AlpacaPosition
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
)
from alpaca.trading.requests import OrderRequest as AlpacaOrderRequest

from brokers.adapters.base import (
    Balance,
    Instrument,
    InvalidSymbol,
    LegRole,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
)

# Reg NMS sub-penny rule, as Alpaca enforces it on limit and stop prices.
TICK = Decimal("0.01")  # prices of $1.00 and up
SUB_DOLLAR_TICK = Decimal("0.0001")  # prices below $1.00
FRACTIONAL_LOT = Decimal("1e-9")  # fractional quantities have at most 9 decimals
PCT = Decimal("0.01")
_SYMBOL = re.compile(r"[A-Z][A-Z0-9.]{0,14}")

STATUSES: dict[str, OrderStatus] = {
    "partially_filled": OrderStatus.PARTIALLY_FILLED,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "replaced": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}  # every other status (new, accepted, held, pending_*, done_for_day, ...) is still working
TYPES = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "stop": OrderType.STOP,
    "stop_limit": OrderType.STOP_LIMIT,
}


def dec(value: Any) -> Decimal:
    """A Decimal from Alpaca's strings or alpaca-py's floats (through `str`); None is 0."""
    return Decimal(0) if value is None or value == "" else Decimal(str(value))


def enum_value(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


# --- symbols ------------------------------------------------------------------------------


def is_alpaca_symbol(symbol: str) -> bool:
    return bool(_SYMBOL.fullmatch(symbol))


def to_alpaca(symbol: str) -> str:
    """Our canonical symbol as Alpaca spells it; InvalidSymbol for anything but a US equity ticker."""
    alpaca = symbol.strip().upper()
    if not is_alpaca_symbol(alpaca):
        raise InvalidSymbol(f"{symbol!r} is not a US equity symbol Alpaca trades through Tradewire.")
    return alpaca


def order_uuid(broker_order_id: str) -> uuid.UUID:
    """Alpaca order ids are UUIDs (alpaca-py refuses anything else before sending)."""
    try:
        return uuid.UUID(broker_order_id)
    except ValueError:
        raise OrderNotFound(f"{broker_order_id!r} is not an Alpaca order id.") from None


# --- orders -------------------------------------------------------------------------------


def _exits(request: OrderRequest) -> dict[str, Any]:
    """Take-profit/stop-loss as Alpaca's native `bracket` (both) or `oto` (one) order class."""
    if not request.has_bracket:
        return {}
    exits: dict[str, Any] = {"order_class": OrderClass.OTO}
    if request.take_profit_limit_price is not None:
        exits["take_profit"] = TakeProfitRequest(limit_price=float(request.take_profit_limit_price))
    if request.stop_loss_stop_price is not None:
        limit = request.stop_loss_limit_price
        exits["stop_loss"] = StopLossRequest(
            stop_price=float(request.stop_loss_stop_price), limit_price=None if limit is None else float(limit)
        )
    if "take_profit" in exits and "stop_loss" in exits:
        exits["order_class"] = OrderClass.BRACKET
    return exits


def order_request(request: OrderRequest) -> AlpacaOrderRequest:
    """alpaca-py's request model for `request`; its own validation failures are rejections."""
    try:
        return _order_request(request)
    except ValueError as exc:  # pydantic's ValidationError: a shape alpaca-py will not send
        raise OrderRejected(f"alpaca-py refused the order: {' '.join(str(exc).split())[:200]}") from exc


def _order_request(request: OrderRequest) -> AlpacaOrderRequest:
    common: dict[str, Any] = {
        "symbol": to_alpaca(request.symbol),
        "qty": float(request.qty),
        "side": AlpacaSide(request.side.value),
        "time_in_force": AlpacaTIF(request.time_in_force.value),
        "client_order_id": request.client_order_id,
        **_exits(request),
    }
    limit = None if request.limit_price is None else float(request.limit_price)
    stop = None if request.stop_price is None else float(request.stop_price)
    if request.type == OrderType.LIMIT:
        return LimitOrderRequest(limit_price=limit, **common)
    if request.type == OrderType.STOP:
        return StopOrderRequest(stop_price=stop, **common)
    if request.type == OrderType.STOP_LIMIT:
        return StopLimitOrderRequest(limit_price=limit, stop_price=stop, **common)
    return MarketOrderRequest(**common)


def _status(order: Order) -> OrderStatus:
    status = STATUSES.get(enum_value(order.status), OrderStatus.SUBMITTED)
    if status == OrderStatus.SUBMITTED and dec(order.filled_qty) > 0:
        return OrderStatus.PARTIALLY_FILLED
    return status


def _role(leg: Order) -> LegRole:
    """A bracket's limit leg takes the profit; its stop (or stop-limit) leg limits the loss."""
    return "take_profit" if enum_value(leg.type or leg.order_type) == "limit" else "stop_loss"


def order_state(order: Order, *, role: LegRole = "") -> OrderState:
    """Cumulative `filled_qty`/`filled_avg_price` only: `fills` stays empty (the service derives them)."""
    filled = dec(order.filled_qty)
    # trailing_stop (never placed by us, maybe by the user elsewhere) is reported as a stop.
    kind = TYPES.get(enum_value(order.type or order.order_type), OrderType.STOP)
    return OrderState(
        broker_order_id=str(order.id),
        client_order_id=order.client_order_id,
        symbol=order.symbol or "",
        side=Side(enum_value(order.side) or "buy"),
        type=kind,
        qty=dec(order.qty) or filled,  # a notional order has no qty until it fills
        status=_status(order),
        filled_qty=filled,
        avg_fill_price=dec(order.filled_avg_price) if filled else None,
        fee=Decimal(0),  # equities are commission-free
        reason="Alpaca rejected the order." if enum_value(order.status) == "rejected" else "",
        updated_at=order.updated_at,
        legs=tuple(order_state(leg, role=_role(leg)) for leg in order.legs or ()),
        role=role,
    )


# --- account ------------------------------------------------------------------------------


def balance(account: TradeAccount) -> Balance:
    return Balance(
        currency=account.currency or "USD",
        cash=dec(account.cash),
        equity=dec(account.equity),
        buying_power=dec(account.buying_power),
        as_of=datetime.now(UTC),
    )


def position(p: AlpacaPosition) -> Position:
    qty = dec(p.qty)
    if enum_value(p.side) == "short" and qty > 0:  # shorts are negative quantities for us
        qty = -qty
    return Position(
        symbol=p.symbol,
        qty=qty,
        avg_price=dec(p.avg_entry_price),
        market_price=dec(p.current_price),
        market_value=dec(p.market_value),
        unrealized_pnl=dec(p.unrealized_pl),
    )


def instrument(asset: Asset, *, price: Decimal | None = None) -> Instrument:
    """Equity assets carry no price increment: cents, or 1/100 cent for a price known to be under $1.

    Without a price the tick is a cent, which is valid at every price (merely coarse below $1).
    Fractionable assets take quantities to 9 decimals (`min_trade_increment` where Alpaca sends one).
    """
    tick = dec(asset.price_increment) or (SUB_DOLLAR_TICK if price is not None and price < 1 else TICK)
    lot = dec(asset.min_trade_increment) or (FRACTIONAL_LOT if asset.fractionable else Decimal(1))
    return Instrument(
        symbol=asset.symbol,
        asset_class="equity",
        broker_symbol=asset.symbol,
        tick_size=tick,
        lot_size=lot,
        min_qty=dec(asset.min_order_size) or lot,
        fractional=asset.fractionable,
        currency="USD",
    )


# --- market data --------------------------------------------------------------------------


def quote(symbol: str, latest: AlpacaQuote, snapshot: Snapshot | None) -> Quote | None:
    """Mid of the latest bid/ask (the last trade when one side is empty); change against the
    previous daily bar's close; volume of today's bar. None when there is no price at all."""
    bid, ask = dec(latest.bid_price), dec(latest.ask_price)
    trade = snapshot.latest_trade if snapshot else None
    price = (bid + ask) / 2 if bid > 0 and ask > 0 else dec(trade.price if trade else None)
    if price <= 0:
        return None
    previous = snapshot.previous_daily_bar if snapshot else None
    prev_close = dec(previous.close if previous else None)
    change = price - prev_close if prev_close else Decimal(0)
    daily = snapshot.daily_bar if snapshot else None
    return Quote(
        symbol=symbol,
        price=price,
        bid=bid,
        ask=ask,
        change=change,
        change_pct=(change * 100 / prev_close).quantize(PCT) if prev_close else Decimal("0.00"),
        volume=dec(daily.volume if daily else None),
        as_of=latest.timestamp,
        source="alpaca",
    )
