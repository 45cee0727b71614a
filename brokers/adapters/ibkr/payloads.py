"""ib_async objects ⇄ our value types, for Interactive Brokers.

IB reports numbers as floats (the SDK parses the wire's decimal text with `float()`); they are
turned back into `Decimal` through `repr`, which gives the shortest text that round-trips, i.e.
what TWS sent. IB's "unset" values (the double max, the int max) and NaN become None.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from ib_async import AccountValue, ContractDetails, Fill, PortfolioItem, Stock, Ticker, Trade
from ib_async import Position as IbPosition
from ib_async.util import UNSET_DOUBLE, UNSET_INTEGER

from brokers.adapters.base import (
    Balance,
    Execution,
    FeeSchedule,
    Instrument,
    InvalidSymbol,
    LegRole,
    OrderState,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
)

ORDER_TYPES = {"MKT": OrderType.MARKET, "LMT": OrderType.LIMIT, "STP": OrderType.STOP, "STP LMT": OrderType.STOP_LIMIT}
IB_ORDER_TYPES = {ours: theirs for theirs, ours in ORDER_TYPES.items()}
CANCELED_STATES = frozenset({"Cancelled", "ApiCancelled", "Inactive"})
UNCONFIRMED_STATES = frozenset({"PendingSubmit", "ApiPending", ""})
# Error codes logged on a trade that do not mean the order was refused (cancel confirmations and
# refused cancels); warnings are logged with status "ValidationError" and are skipped too.
NOT_REFUSALS = frozenset({161, 202, 10147, 10148})
FUNDS = re.compile(r"insufficient|equity with loan|initial margin|buying power|available funds|cash available", re.I)
LOGGED_ERROR = re.compile(r"^(?:Error|Warning) -?\d+, reqId -?\d+: (?P<text>.*?)(?:, contract: .*)?$", re.S)
SYMBOL = re.compile(r"[A-Z0-9]{1,6}(?:\.[A-Z]{1,2})?")
# How long a fill waits for its commission report before it is reported without its fee.
FEE_GRACE = timedelta(seconds=2)

FEES = FeeSchedule(
    maker_pct=Decimal(0),
    taker_pct=Decimal(0),
    per_order=Decimal("0.35"),
    currency="USD",
    note=(
        "IBKR Pro Tiered, US stocks: USD 0.0035 per share (up to 300,000 shares a month), at least USD 0.35 "
        "and at most 1% of the trade value per order, plus exchange, clearing and regulatory fees. "
        "Each fill's actual commission comes from IB's commission report."
    ),
)


def dec(value: float | int | None) -> Decimal | None:
    if (
        value is None
        or value in (UNSET_DOUBLE, UNSET_INTEGER)
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        return None
    found = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return found.quantize(Decimal(1)) if found == found.to_integral_value() else found  # 10.0 → 10


def dec0(value: float | int | None) -> Decimal:
    return dec(value) or Decimal(0)


# --- symbols and contracts ----------------------------------------------------------------


def stock(symbol: str) -> Stock:
    """A US stock routed SMART in USD; IB writes share classes with a space (BRK B)."""
    symbol = symbol.strip().upper()
    if not SYMBOL.fullmatch(symbol):
        raise InvalidSymbol(f"{symbol!r} is not a US stock symbol this connection can trade at Interactive Brokers.")
    return Stock(symbol.replace(".", " "), "SMART", "USD")


def canonical(contract: object) -> str:
    symbol = str(getattr(contract, "symbol", "") or getattr(contract, "localSymbol", ""))
    return symbol.replace(" ", ".") if getattr(contract, "secType", "STK") in ("STK", "") else symbol


def instrument(details: ContractDetails) -> Instrument:
    contract = details.contract or Stock()
    min_size = dec(details.minSize)
    return Instrument(
        symbol=canonical(contract),
        asset_class="equity",
        broker_symbol=str(contract.conId),
        tick_size=dec(details.minTick) or Decimal("0.01"),
        lot_size=Decimal(1),
        min_qty=min_size if min_size and min_size > 0 else Decimal(1),
        currency=contract.currency or "USD",
    )


# --- orders -------------------------------------------------------------------------------


def refusal(trade: Trade) -> tuple[int, str] | None:
    """The (code, text) IB refused this order with, if it did (error 201, 200, 110 …)."""
    for entry in reversed(trade.log):
        if entry.errorCode and entry.errorCode not in NOT_REFUSALS and entry.status != "ValidationError":
            found = LOGGED_ERROR.match(entry.message)
            return entry.errorCode, (found["text"] if found else entry.message)
    return None


def executions(fills: Iterable[Fill], now: datetime) -> tuple[Execution, ...]:
    """One `Execution` per IB execution, keyed by execId, each with its fee.

    A correction repeats an execution with an execId that differs only after the last period:
    it replaces the original but keeps the first id. A fill is held back until its commission
    report arrives (or FEE_GRACE passes), so its fee is reported with it.
    """
    found: dict[str, Execution] = {}
    for fill in fills:
        ex, report = fill.execution, fill.commissionReport
        if not report.execId and now - fill.time < FEE_GRACE:
            continue
        key = ex.execId.rsplit(".", 1)[0]
        first = found.get(key)
        found[key] = Execution(
            execution_id=first.execution_id if first else ex.execId,
            qty=dec0(ex.shares),
            price=dec0(ex.price),
            fee=dec0(report.commission) if report.execId else Decimal(0),
            fee_currency=report.currency,
            executed_at=ex.time,
        )
    return tuple(found.values())


def _status(trade: Trade, filled: Decimal, qty: Decimal) -> OrderStatus:
    ib_status = trade.orderStatus.status
    if ib_status in CANCELED_STATES:
        refused = refusal(trade) is not None or ib_status == "Inactive"
        return OrderStatus.REJECTED if refused and not filled else OrderStatus.CANCELED
    if ib_status in UNCONFIRMED_STATES:
        return OrderStatus.UNKNOWN
    if filled >= qty > 0:
        return OrderStatus.FILLED
    return OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.SUBMITTED


def _filled(trade: Trade, fills: Sequence[Execution]) -> tuple[Decimal, Decimal | None]:
    """Filled quantity and average price: from the fills when IB reported them, else its status."""
    if fills:
        qty = sum((f.qty for f in fills), Decimal(0))
        return qty, (sum((f.qty * f.price for f in fills), Decimal(0)) / qty if qty else None)
    if trade.fills:  # executions reported, commissions still on their way
        return Decimal(0), None
    qty = dec(trade.orderStatus.filled) or dec(trade.order.filledQuantity) or Decimal(0)
    return qty, dec(trade.orderStatus.avgFillPrice) if qty else None


def order_state(trade: Trade, now: datetime, *, legs: tuple[OrderState, ...] = (), role: LegRole = "") -> OrderState:
    order = trade.order
    fills = executions(trade.fills, now)
    qty = dec0(order.totalQuantity)
    filled, avg = _filled(trade, fills)
    refused = refusal(trade)
    return OrderState(
        broker_order_id=str(order.permId or trade.orderStatus.permId),
        client_order_id=order.orderRef,
        symbol=canonical(trade.contract),
        side=Side.BUY if order.action == "BUY" else Side.SELL,
        type=ORDER_TYPES.get(order.orderType, OrderType.LIMIT if dec(order.lmtPrice) else OrderType.MARKET),
        qty=qty,
        status=_status(trade, filled, qty),
        filled_qty=filled,
        avg_fill_price=avg.quantize(Decimal("1e-8")).normalize() if avg is not None else None,
        fee=sum((f.fee for f in fills), Decimal(0)),
        reason=refused[1] if refused else "",
        updated_at=trade.log[-1].time if trade.log else None,
        fills=fills,
        legs=legs,
        role=role,
    )


# --- account and market data --------------------------------------------------------------


def balance(values: Sequence[AccountValue], now: datetime) -> Balance:
    """From the account summary: the base currency is the currency IB values the account in."""
    by_tag = {v.tag: v for v in values if v.currency and v.currency != "BASE"}
    net = by_tag.get("NetLiquidation")
    currency = net.currency if net else next(iter(by_tag.values())).currency if by_tag else "USD"

    def amount(*tags: str) -> Decimal:
        value = next((by_tag[t].value for t in tags if t in by_tag), "0")
        return Decimal(value or "0")

    cash, equity = amount("TotalCashValue", "CashBalance"), amount("NetLiquidation")
    return Balance(currency, cash, equity, amount("BuyingPower", "AvailableFunds"), now)


def positions(items: Sequence[PortfolioItem], held: Sequence[IbPosition]) -> list[Position]:
    """Positions valued by IB's portfolio updates; any it has not valued yet, at their cost."""
    out = {item.contract.conId: _position(item) for item in items if item.position}
    for p in held:
        if p.position and p.contract.conId not in out:
            qty, cost = dec0(p.position), dec0(p.avgCost)
            out[p.contract.conId] = Position(canonical(p.contract), qty, cost, cost, qty * cost, Decimal(0))
    return sorted(out.values(), key=lambda p: p.symbol)


def _position(item: PortfolioItem) -> Position:
    return Position(
        symbol=canonical(item.contract),
        qty=dec0(item.position),
        avg_price=dec0(item.averageCost),
        market_price=dec0(item.marketPrice),
        market_value=dec0(item.marketValue),
        unrealized_pnl=dec0(item.unrealizedPNL),
    )


def quote(symbol: str, ticker: Ticker, now: datetime) -> Quote | None:
    """A snapshot ticker as a quote; None when IB sent no usable price (no market data permission)."""
    bid, ask, last, close = (_price(getattr(ticker, name)) for name in ("bid", "ask", "last", "close"))
    midpoint = (bid + ask) / 2 if bid and ask else None
    price = last or midpoint or close
    if price is None:
        return None
    change = price - close if close else Decimal(0)
    pct = (change / close * 100).quantize(Decimal("0.0001")) if close else Decimal(0)
    volume = dec(ticker.volume)
    as_of = ticker.time or now
    return Quote(symbol, price, bid or price, ask or price, change, pct, volume or Decimal(0), as_of, "ibkr")


def _price(value: float) -> Decimal | None:
    found = dec(value)
    return found if found is not None and found > 0 else None  # IB sends -1 for "no quote"
