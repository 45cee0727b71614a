"""Kraken's private read endpoints over the simulated account.

Each answers the `result` object its reference page documents:
- Balance / BalanceEx: https://docs.kraken.com/api-reference/account-data/get-account-balance,
  https://docs.kraken.com/api-reference/account-data/get-extended-balance
- OpenOrders / ClosedOrders / QueryOrders: https://docs.kraken.com/api-reference/account-data/get-open-orders,
  .../get-closed-orders, .../get-orders-info (50 closed orders a page, newest first; `cl_ord_id` filters)
- TradesHistory / QueryTrades: https://docs.kraken.com/api-reference/account-data/get-trade-history,
  .../get-trades-info
- TradeVolume: https://docs.kraken.com/api-reference/account-data/get-trade-volume
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.simulators.kraken.auth import KrakenError
from tests.simulators.kraken.book import Book
from tests.simulators.kraken.catalog import ASSETS, find_pair, fixed
from tests.simulators.kraken.orders import Order
from tests.simulators.kraken.trading import TRUE, invalid

PAGE = 50


def balance(book: Book, params: dict[str, str]) -> dict[str, Any]:
    return {asset: fixed(amount, ASSETS[asset][1]) for asset, amount in book.balances.items()}


def balance_ex(book: Book, params: dict[str, str]) -> dict[str, Any]:
    return {
        asset: {"balance": fixed(amount, ASSETS[asset][1]), "hold_trade": fixed(book.hold(asset), ASSETS[asset][1])}
        for asset, amount in book.balances.items()
    }


def open_orders(book: Book, params: dict[str, str]) -> dict[str, Any]:
    orders = _filtered([o for o in book.orders.values() if o.is_open], params)
    return {"open": _bodies(orders, params)}


def closed_orders(book: Book, params: dict[str, str]) -> dict[str, Any]:
    orders = _filtered([o for o in book.orders.values() if not o.is_open], params)
    orders.sort(key=lambda o: o.closetm or o.opentm, reverse=True)
    start, end = _bound(params.get("start")), _bound(params.get("end"))
    orders = [o for o in orders if (start is None or o.opentm > start) and (end is None or o.opentm <= end)]
    offset = _offset(params)
    return {"closed": _bodies(orders[offset : offset + PAGE], params), "count": len(orders)}


def query_orders(book: Book, params: dict[str, str]) -> dict[str, Any]:
    ids = [txid for txid in params.get("txid", "").split(",") if txid]
    if not ids or len(ids) > PAGE:
        raise KrakenError("EGeneral:Invalid arguments")
    if any(txid not in book.orders for txid in ids):
        raise KrakenError("EOrder:Invalid order")
    return _bodies([book.orders[txid] for txid in ids], params)


def trades_history(book: Book, params: dict[str, str]) -> dict[str, Any]:
    trades = sorted(book.trades.values(), key=lambda t: t.time, reverse=True)
    offset = _offset(params)
    return {"trades": {t.txid: t.body() for t in trades[offset : offset + PAGE]}, "count": len(trades)}


def query_trades(book: Book, params: dict[str, str]) -> dict[str, Any]:
    ids = [txid for txid in params.get("txid", "").split(",") if txid]
    if not ids or len(ids) > 20 or any(txid not in book.trades for txid in ids):
        raise KrakenError("EGeneral:Invalid arguments:txid")
    return {txid: book.trades[txid].body() for txid in ids}


def trade_volume(book: Book, params: dict[str, str]) -> dict[str, Any]:
    pairs = [find_pair(name) for name in params.get("pair", "").split(",") if name]
    if any(pair is None for pair in pairs):
        raise KrakenError("EQuery:Unknown asset pair")
    volume = sum((t.cost for t in book.trades.values()), start=Decimal(0))
    taker = {"fee": "0.2600", "minfee": "0.1000", "maxfee": "0.2600", "nextfee": "0.2400"}
    maker = {"fee": "0.1600", "minfee": "0.0000", "maxfee": "0.1600", "nextfee": "0.1400"}
    tier = {"tiervolume": "0.0000", "nextvolume": "50000.0000"}
    result: dict[str, Any] = {"currency": "ZUSD", "volume": fixed(volume, 4)}
    if pairs:
        result["fees"] = {p.id: {**taker, **tier} for p in pairs if p}
        result["fees_maker"] = {p.id: {**maker, **tier} for p in pairs if p}
    return result


def _filtered(orders: list[Order], params: dict[str, str]) -> list[Order]:
    cl_ord_id, userref = params.get("cl_ord_id"), params.get("userref")
    if cl_ord_id is not None:
        orders = [o for o in orders if o.cl_ord_id == cl_ord_id]
    if userref is not None:
        orders = [o for o in orders if str(o.userref) == userref]
    return sorted(orders, key=lambda o: o.opentm, reverse=True)


def _bodies(orders: list[Order], params: dict[str, str]) -> dict[str, Any]:
    with_trades = params.get("trades") in TRUE
    return {o.txid: o.body(with_trades=with_trades) for o in orders}


def _bound(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError as exc:
        raise invalid("start") from exc


def _offset(params: dict[str, str]) -> int:
    text = params.get("ofs", "0")
    if not text.isdigit():
        raise invalid("ofs")
    return int(text)
