"""Kraken ⇄ ours: symbols, order parameters for ccxt, and Kraken's raw objects into our value types.

Values are read from Kraken's own strings (`info` in ccxt's structures), never from ccxt's floats.
ccxt names markets as we do (`BTC/USD`; Kraken's XBT and XDG become BTC and DOGE), so a canonical
symbol is looked up as is among the loaded markets.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from brokers.adapters.base import (
    Execution,
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

ZERO: Final = Decimal(0)
FIAT: Final = ("USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD")
CENT: Final = Decimal("0.01")
# Kraken's order types in ours: its take-profit kinds are trigger orders too (triggered the other way).
ORDER_TYPES: Final = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "iceberg": OrderType.LIMIT,
    "stop-loss": OrderType.STOP,
    "take-profit": OrderType.STOP,
    "trailing-stop": OrderType.STOP,
    "stop-loss-limit": OrderType.STOP_LIMIT,
    "take-profit-limit": OrderType.STOP_LIMIT,
    "trailing-stop-limit": OrderType.STOP_LIMIT,
}
# cl_ord_id: a UUID with or without hyphens, or at most 18 characters of free text.
_UUID: Final = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_CLIENT_ID_SPACE: Final = uuid.uuid5(uuid.NAMESPACE_DNS, "cl-ord-id.kraken.tradewire")


def dec(value: Any) -> Decimal:
    return ZERO if value in (None, "") else Decimal(str(value))


def market_for(markets: Mapping[str, Any], symbol: str) -> dict[str, Any]:
    market = markets.get(symbol.strip().upper())
    if not market or not market.get("spot"):
        raise InvalidSymbol(f"Kraken does not list {symbol}.")
    return dict(market)


def instrument(market: Mapping[str, Any]) -> Instrument:
    """AssetPairs' own increments: `tick_size` (else 10^-pair_decimals), 10^-lot_decimals, `ordermin`."""
    info = market["info"]
    tick = dec(info["tick_size"]) if info.get("tick_size") else Decimal(1).scaleb(-int(info["pair_decimals"]))
    return Instrument(
        symbol=market["symbol"],
        asset_class="crypto",
        broker_symbol=market["id"],
        tick_size=tick,
        lot_size=Decimal(1).scaleb(-int(info["lot_decimals"])),
        min_qty=dec(info.get("ordermin")),
        fractional=True,
        currency=market["quote"],
    )


def client_id(client_order_id: str) -> str:
    """Our id as Kraken's `cl_ord_id`; a longer free-form id travels as a UUID derived from it,
    the same every time, so it can be searched for again."""
    if _UUID.fullmatch(client_order_id) or len(client_order_id) <= 18:
        return client_order_id
    return str(uuid.uuid5(_CLIENT_ID_SPACE, client_order_id))


# --- placing ---------------------------------------------------------------------------------


def order_args(request: OrderRequest, market: Mapping[str, Any]) -> tuple[str, str, str, str | None, dict[str, Any]]:
    """ccxt `create_order(symbol, type, side, amount, price, params)` arguments for `request`.

    Stops are Kraken's `stop-loss` (price = the trigger) and `stop-loss-limit` (price2 = the
    limit), which ccxt builds from `stopLossPrice`. One exit leg travels as Kraken's conditional
    close (`close[ordertype]`, `close[price]`, `close[price2]`), placed when the order fills.
    """
    _check_increments(request, instrument(market))
    params: dict[str, Any] = {"clientOrderId": client_id(request.client_order_id)}
    if request.time_in_force == TimeInForce.IOC:
        params["timeInForce"] = "IOC"
    elif request.time_in_force == TimeInForce.FOK:
        raise OrderRejected("Kraken has no fill-or-kill orders; use IOC or GTC.")
    # DAY: crypto trades around the clock, there is no session close; the order rests as GTC.
    if request.type in (OrderType.STOP, OrderType.STOP_LIMIT):
        params["stopLossPrice"] = str(request.stop_price)
    close = _close(request)
    if close:
        params["close"] = close
    limit = str(request.limit_price) if request.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
    kind = "limit" if limit is not None else "market"
    return kind, request.side.value, str(request.qty), limit, params


def _close(request: OrderRequest) -> dict[str, str]:
    take, stop = request.take_profit_limit_price, request.stop_loss_stop_price
    if take is not None and stop is not None:
        raise OrderRejected(
            "Kraken attaches one conditional close per order: a take-profit and stop-loss bracket "
            "is placed by Tradewire's bracket emulation once the order fills."
        )
    if take is not None:
        return {"ordertype": "limit", "price": str(take)}
    if stop is None:
        return {}
    if request.stop_loss_limit_price is None:
        return {"ordertype": "stop-loss", "price": str(stop)}
    return {"ordertype": "stop-loss-limit", "price": str(stop), "price2": str(request.stop_loss_limit_price)}


def _check_increments(request: OrderRequest, spec: Instrument) -> None:
    """ccxt would silently round prices and truncate the volume to the pair's decimals: refuse instead."""
    if request.qty <= 0 or request.qty % spec.lot_size:
        raise OrderRejected(f"Kraken trades {spec.symbol} in steps of {spec.lot_size}.")
    prices = (
        request.limit_price,
        request.stop_price,
        request.take_profit_limit_price,
        request.stop_loss_stop_price,
        request.stop_loss_limit_price,
    )
    if any(price is not None and (price <= 0 or price % spec.tick_size) for price in prices):
        raise OrderRejected(f"Kraken prices {spec.symbol} in steps of {spec.tick_size}.")


# --- reading orders --------------------------------------------------------------------------


def trade_ids(info: Mapping[str, Any]) -> list[str]:
    """The order's trade ids, each once (a repeated report is the same execution)."""
    return list(dict.fromkeys(info.get("trades") or []))


def order_state(
    order: Mapping[str, Any], *, trades: Mapping[str, Mapping[str, Any]], client_order_id: str | None = None
) -> OrderState:
    """One ccxt order (parsed from OpenOrders/ClosedOrders/QueryOrders), from its raw `info`."""
    info, descr = order["info"], order["info"].get("descr") or {}
    qty, filled = dec(info.get("vol")), dec(info.get("vol_exec"))
    stamp = info.get("closetm") or info.get("opentm")
    return OrderState(
        broker_order_id=order["id"],
        client_order_id=client_order_id or info.get("cl_ord_id") or "",
        symbol=order.get("symbol") or descr.get("pair", ""),
        side=Side(descr.get("type", "buy")),
        type=ORDER_TYPES.get(descr.get("ordertype", ""), OrderType.MARKET),
        qty=qty,
        status=_status(info.get("status", ""), qty, filled),
        filled_qty=filled,
        avg_fill_price=dec(info.get("price")) if filled and dec(info.get("price")) else None,
        fee=dec(info.get("fee")),
        reason=info.get("reason") or "",
        updated_at=_time(stamp),
        fills=executions(order, trades),
    )


def _status(status: str, qty: Decimal, filled: Decimal) -> OrderStatus:
    if status in ("pending", "open"):
        return OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.SUBMITTED
    if status == "closed" and filled >= qty:
        return OrderStatus.FILLED
    return OrderStatus.CANCELED  # canceled, expired, or closed before the rest filled


def executions(order: Mapping[str, Any], trades: Mapping[str, Mapping[str, Any]]) -> tuple[Execution, ...]:
    """Fills keyed by Kraken trade id. One trade is the whole executed volume at the average price,
    read from the order itself; several need their QueryTrades entries (`trades`), else none."""
    info, currency = order["info"], (order.get("fee") or {}).get("currency") or ""
    ids = trade_ids(info)
    if len(ids) == 1:
        return (Execution(ids[0], dec(info["vol_exec"]), dec(info["price"]), dec(info["fee"]), currency),)
    if not ids or any(i not in trades for i in ids):
        return ()
    return tuple(_execution(i, trades[i], currency) for i in ids)


def _execution(trade_id: str, trade: Mapping[str, Any], currency: str) -> Execution:
    """A QueryTrades entry (its raw `info`)."""
    return Execution(
        trade_id, dec(trade["vol"]), dec(trade["price"]), dec(trade["fee"]), currency, _time(trade.get("time"))
    )


def _time(stamp: Any) -> datetime | None:
    return datetime.fromtimestamp(float(stamp), UTC) if stamp else None


# --- account and market ----------------------------------------------------------------------


def balances(result: Mapping[str, Any], code: Any) -> dict[str, tuple[Decimal, Decimal]]:
    """BalanceEx → {currency code: (balance, held by open orders)}; `code` maps XXBT → BTC."""
    return {code(asset): (dec(row.get("balance")), dec(row.get("hold_trade"))) for asset, row in result.items()}


def account_currency(held: Mapping[str, tuple[Decimal, Decimal]]) -> str:
    """The fiat currency the account holds most of (its quote currency); USD when it holds none."""
    fiat = [(amount, code) for code, (amount, _) in held.items() if code in FIAT and amount > 0]
    return max(fiat)[1] if fiat else "USD"


def average_cost(trades: Iterable[Mapping[str, Any]]) -> Decimal | None:
    """Average cost of what the trades leave held (oldest first; sells release at the average)."""
    qty = cost = ZERO
    for trade in trades:
        info = trade["info"]
        vol, price = dec(info["vol"]), dec(info["price"])
        if info["type"] == "buy":
            qty, cost = qty + vol, cost + vol * price
        elif qty:
            sold = min(vol, qty)
            qty, cost = qty - sold, cost - cost / qty * sold
    return cost / qty if qty > 0 else None


def position(symbol: str, qty: Decimal, price: Decimal, trades: Iterable[Mapping[str, Any]]) -> Position:
    """A holding valued at `price`; its average cost from its trades, else the price (cost unknown)."""
    avg = average_cost(trades) or price
    return Position(
        symbol=symbol,
        qty=qty,
        avg_price=avg,
        market_price=price,
        market_value=(qty * price).quantize(CENT),
        unrealized_pnl=((price - avg) * qty).quantize(CENT),
    )


def quote(symbol: str, info: Mapping[str, Any]) -> Quote:
    """A Ticker entry: c last trade, b bid, a ask, o today's opening price (00:00 UTC), v[1] 24 h volume."""
    last, opening = dec(info["c"][0]), dec(info.get("o"))
    change = last - opening if opening else ZERO
    return Quote(
        symbol=symbol,
        price=last,
        bid=dec(info["b"][0]),
        ask=dec(info["a"][0]),
        change=change,
        change_pct=(change * 100 / opening).quantize(CENT) if opening else ZERO,
        volume=dec(info["v"][1]),
        as_of=datetime.now(UTC),  # Kraken's ticker carries no timestamp
        source="kraken",
    )
