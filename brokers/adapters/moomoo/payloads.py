"""futu-api's rows ⇄ our value types. futu's enums are plain strings ("NORMAL", "FILLED_ALL"), used
here as such so this module needs no SDK; its numbers are floats, read back as the decimals they were
written from; its times are market-local strings ("2024-06-03 10:15:02.123", US Eastern or HK time)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from brokers.adapters.base import (
    Balance,
    Execution,
    FeeSchedule,
    Instrument,
    InvalidSymbol,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
    TimeInForce,
)

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Market:
    name: str  # futu's TrdMarket / Market value: "US", "HK"
    currency: str
    tz: ZoneInfo
    symbol: re.Pattern[str]


MARKETS = {
    "US": Market("US", "USD", ZoneInfo("America/New_York"), re.compile(r"[A-Z][A-Z0-9.\-]{0,11}")),
    # HK codes are five digits; people write 700 for 00700.
    "HK": Market("HK", "HKD", ZoneInfo("Asia/Hong_Kong"), re.compile(r"\d{1,5}")),
}

ORDER_TYPES = {  # ours → futu's OrderType
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "NORMAL",  # a limit order (HK: the enhanced limit order)
    OrderType.STOP: "STOP",
    OrderType.STOP_LIMIT: "STOP_LIMIT",
}
FROM_ORDER_TYPES = {value: key for key, value in ORDER_TYPES.items()} | {"MARKET_IF_TOUCHED": OrderType.MARKET}
TIME_IN_FORCE = {TimeInForce.DAY: "DAY", TimeInForce.GTC: "GTC"}
STATUSES = {
    "UNSUBMITTED": OrderStatus.SUBMITTED,
    "WAITING_SUBMIT": OrderStatus.SUBMITTED,
    "SUBMITTING": OrderStatus.SUBMITTED,
    "SUBMITTED": OrderStatus.SUBMITTED,
    "CANCELLING_ALL": OrderStatus.SUBMITTED,
    "FILLED_PART": OrderStatus.PARTIALLY_FILLED,
    "CANCELLING_PART": OrderStatus.PARTIALLY_FILLED,
    "FILLED_ALL": OrderStatus.FILLED,
    "CANCELLED_PART": OrderStatus.CANCELED,
    "CANCELLED_ALL": OrderStatus.CANCELED,
    "DISABLED": OrderStatus.CANCELED,
    "DELETED": OrderStatus.CANCELED,
    "SUBMIT_FAILED": OrderStatus.REJECTED,
    "FAILED": OrderStatus.REJECTED,
    "FILL_CANCELLED": OrderStatus.REJECTED,
    "TIMEOUT": OrderStatus.UNKNOWN,  # OpenD itself does not know the outcome yet
}
REMARK_BYTES = 64
US_TICK = Decimal("0.01")
HK_SPREADS = (  # HKEX spread table: (prices up to, tick)
    ("0.25", "0.001"), ("0.5", "0.005"), ("10", "0.01"), ("20", "0.02"), ("100", "0.05"), ("200", "0.1"),
    ("500", "0.2"), ("1000", "0.5"), ("2000", "1"), ("5000", "2"), ("9995", "5"),
)  # fmt: skip


# -- symbols ---------------------------------------------------------------------------------


def to_code(symbol: str, market: Market) -> str:
    """`AAPL` → `US.AAPL`, `00700` → `HK.00700`; InvalidSymbol for what the market cannot name."""
    text = symbol.strip().upper()
    if not market.symbol.fullmatch(text):
        raise InvalidSymbol(f"{symbol!r} is not a {market.name} symbol")
    return f"{market.name}.{text.zfill(5) if market.name == 'HK' else text}"


def from_code(code: str) -> str:
    return code.split(".", 1)[1] if "." in code else code


# -- numbers and times -----------------------------------------------------------------------


def number(value: Any, default: Decimal | None = Decimal(0)) -> Decimal | None:
    """A futu float (or "N/A") as a Decimal: the shortest decimal that round-trips."""
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return default
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return default
    parsed = Decimal(repr(float(value)))
    return parsed.quantize(Decimal(1)) if parsed == parsed.to_integral_value() else parsed


def amount(value: Any) -> Decimal:
    return number(value) or Decimal(0)


def moment(text: Any, market: Market) -> datetime | None:
    if not isinstance(text, str) or not text.strip():
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=market.tz).astimezone(UTC)
        except ValueError:
            continue
    return None


# -- orders ------------------------------------------------------------------------------------


def order_kwargs(request: OrderRequest, market: Market) -> dict[str, Any]:
    """futu's `place_order` arguments. Bracket legs are not sent: Moomoo has no native bracket,
    the platform places them (emulated) once this parent fills."""
    if request.time_in_force not in TIME_IN_FORCE:
        raise OrderRejected(f"Moomoo accepts day and gtc orders, not {request.time_in_force}.")
    if len(request.client_order_id.encode()) > REMARK_BYTES:
        raise OrderRejected("The client order id must fit OpenD's 64-byte remark.")
    kwargs: dict[str, Any] = {
        "price": float(request.limit_price or 0),  # futu needs a price even for market orders
        "qty": float(request.qty),
        "code": to_code(request.symbol, market),
        "trd_side": "BUY" if request.side == Side.BUY else "SELL",
        "order_type": ORDER_TYPES[request.type],
        "remark": request.client_order_id,
        "time_in_force": TIME_IN_FORCE[request.time_in_force],
    }
    if request.stop_price is not None:
        kwargs["aux_price"] = float(request.stop_price)
    return kwargs


def order_state(row: Row, market: Market) -> OrderState:
    filled = amount(row.get("dealt_qty"))
    status = STATUSES.get(str(row.get("order_status")), OrderStatus.UNKNOWN)
    return OrderState(
        broker_order_id=str(row["order_id"]),
        client_order_id=str(row.get("remark") or ""),
        symbol=from_code(str(row.get("code", ""))),
        side=Side.SELL if str(row.get("trd_side")) in ("SELL", "SELL_SHORT") else Side.BUY,
        type=FROM_ORDER_TYPES.get(str(row.get("order_type")), OrderType.LIMIT),
        qty=amount(row.get("qty")),
        status=status,
        filled_qty=filled,
        avg_fill_price=number(row.get("dealt_avg_price"), None) if filled else None,
        reason=str(row.get("last_err_msg") or "") if status == OrderStatus.REJECTED else "",
        updated_at=moment(row.get("updated_time"), market),
    )


def placed_state(request: OrderRequest, order_id: str, row: Row | None, market: Market) -> OrderState:
    """The state `place_order` answered; futu fills in only the order id when its follow-up query failed."""
    if row and row.get("code") and isinstance(row.get("order_status"), str):
        return order_state({**row, "order_id": order_id}, market)
    return OrderState(
        broker_order_id=order_id,
        client_order_id=request.client_order_id,
        symbol=request.symbol,
        side=request.side,
        type=request.type,
        qty=request.qty,
        status=OrderStatus.SUBMITTED,
    )


def execution(row: Row, market: Market) -> Execution:
    """A fill (deal); its deal id is the execution id."""
    return Execution(
        execution_id=str(row["deal_id"]),
        qty=amount(row.get("qty")),
        price=amount(row.get("price")),
        executed_at=moment(row.get("create_time"), market),
    )


def with_fills(state: OrderState, fills: Iterable[Execution]) -> OrderState:
    """`state` carrying its fills; a fill pushed before the order's own update moves it on."""
    ordered = tuple(sorted(fills, key=lambda f: (f.executed_at or datetime.min.replace(tzinfo=UTC), f.execution_id)))
    total = sum((f.qty for f in ordered), Decimal(0))
    if total <= state.filled_qty:
        return replace(state, fills=ordered)
    status = state.status
    if status.is_open:
        status = OrderStatus.FILLED if total >= state.qty else OrderStatus.PARTIALLY_FILLED
    average = sum((f.qty * f.price for f in ordered), Decimal(0)) / total
    return replace(state, fills=ordered, filled_qty=total, avg_fill_price=average, status=status)


# -- account -------------------------------------------------------------------------------------


def balance(row: Row, market: Market, now: datetime) -> Balance:
    return Balance(
        currency=market.currency,
        cash=amount(row.get("cash")),
        equity=amount(row.get("total_assets")),
        buying_power=amount(row.get("power")),
        as_of=now,
    )


def position(row: Row) -> Position:
    average = number(row.get("average_cost"), None)
    if average is None:
        average = number(row.get("diluted_cost"), None) or amount(row.get("cost_price"))
    return Position(
        symbol=from_code(str(row["code"])),
        qty=amount(row.get("qty")),
        avg_price=average,
        market_price=amount(row.get("nominal_price")),
        market_value=amount(row.get("market_val")),
        unrealized_pnl=amount(row.get("pl_val")),
    )


# -- market data ---------------------------------------------------------------------------------


def quote(row: Row, market: Market) -> Quote:
    price = amount(row.get("last_price"))
    previous = amount(row.get("prev_close_price"))
    change = price - previous
    return Quote(
        symbol=from_code(str(row["code"])),
        price=price,
        bid=number(row.get("bid_price"), None) or price,
        ask=number(row.get("ask_price"), None) or price,
        change=change,
        change_pct=(change / previous * 100).quantize(Decimal("0.0001")) if previous else Decimal(0),
        volume=amount(row.get("volume")),
        as_of=moment(row.get("update_time"), market) or datetime.now(UTC),
        source="moomoo",
    )


def tick_size(market: Market, price: Decimal | None) -> Decimal:
    """US stocks trade in cents; HK prices follow HKEX's spread table, by price."""
    if market.name != "HK":
        return US_TICK
    if price is None:
        return Decimal(HK_SPREADS[0][1])
    return next((Decimal(tick) for upto, tick in HK_SPREADS if price <= Decimal(upto)), Decimal(HK_SPREADS[-1][1]))


def instrument(row: Row, market: Market, price: Decimal | None) -> Instrument:
    lot = amount(row.get("lot_size")) or Decimal(1)
    kind = str(row.get("stock_type") or "STOCK")
    return Instrument(
        symbol=from_code(str(row["code"])),
        asset_class="equity" if kind in ("STOCK", "ETF") else kind.lower(),
        broker_symbol=str(row["code"]),
        tick_size=tick_size(market, price),
        lot_size=lot,
        min_qty=lot,
        currency=market.currency,
    )


FEES = {
    "US": FeeSchedule(
        maker_pct=Decimal(0),
        taker_pct=Decimal(0),
        currency="USD",
        note="Commission-free US stocks; sells pay the SEC fee and FINRA TAF. Each order's actual fees "
        "come from OpenD's order fee query.",
    ),
    "HK": FeeSchedule(
        maker_pct=Decimal("0.03"),
        taker_pct=Decimal("0.03"),
        per_order=Decimal(15),
        currency="HKD",
        note="Commission 0.03% (at least HK$3) plus a HK$15 platform fee per order; stamp duty, trading "
        "fee and levies on top. Each order's actual fees come from OpenD's order fee query.",
    ),
}
