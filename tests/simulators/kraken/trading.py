"""AddOrder and CancelOrder: parsing and checking their parameters as Kraken does.

https://docs.kraken.com/api-reference/trading/add-order and
https://docs.kraken.com/api-reference/trading/cancel-order. `cl_ord_id` is a long UUID, a short
(hyphen-less) UUID or free text of at most 18 characters, unique among the account's OPEN orders
only (https://docs.kraken.com/api/docs/guides/spot-clordid); it excludes `userref`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.simulators.kraken.auth import KeyRing, KrakenError, cancel_penalty
from tests.simulators.kraken.book import Book
from tests.simulators.kraken.catalog import Pair, find_pair
from tests.simulators.kraken.orders import CLOSE_TYPES, ORDER_TYPES, Order, kraken_id

_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
_FREE_TEXT = re.compile(r"[\x20-\x7e]{1,18}")
TRUE = ("true", "1", "True")


def invalid(name: str) -> KrakenError:
    return KrakenError(f"EGeneral:Invalid arguments:{name}")


def pair_of(name: str | None) -> Pair:
    if not name:
        raise KrakenError("EGeneral:Invalid arguments")
    pair = find_pair(name)
    if pair is None:
        raise KrakenError("EQuery:Unknown asset pair")
    return pair


def number(params: dict[str, str], name: str, *, required: bool) -> Decimal | None:
    text = params.get(name, "")
    if not text:
        if required:
            raise invalid(name)
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise invalid(name) from exc
    if not value.is_finite() or value <= 0:
        raise invalid(name)
    return value


def add_order(book: Book, keys: KeyRing, key: str, params: dict[str, str]) -> dict[str, Any]:
    order = _order(book, key, params)
    _check(book, order)
    keys.trade(key, order.pair.id, 1)
    descr = {"order": order.descr_order()}
    if order.close:
        descr["close"] = order.descr_close()
    if params.get("validate") in TRUE:
        return {"descr": descr}  # checked, not placed
    book.add(order)
    return {"descr": descr, "txid": [order.txid]}


def _order(book: Book, key: str, params: dict[str, str]) -> Order:
    pair = pair_of(params.get("pair"))
    side, ordertype = params.get("type"), params.get("ordertype")
    if side not in ("buy", "sell"):
        raise invalid("type")
    if ordertype not in ORDER_TYPES:
        raise invalid("ordertype")
    timeinforce = params.get("timeinforce", "GTC")
    if timeinforce not in ("GTC", "IOC", "GTD"):
        raise invalid("timeinforce")
    cl_ord_id, userref = _client_ids(params)
    return Order(
        txid=kraken_id("O"),
        key=key,
        pair=pair,
        side=side,
        ordertype=ordertype,
        vol=number(params, "volume", required=True) or Decimal(0),
        price=number(params, "price", required=ordertype != "market"),
        price2=number(params, "price2", required=ordertype.endswith("-limit")),
        opentm=book.clock(),
        cl_ord_id=cl_ord_id,
        userref=userref,
        timeinforce=timeinforce,
        close=_close(params),
    )


def _client_ids(params: dict[str, str]) -> tuple[str | None, int | None]:
    cl_ord_id, userref = params.get("cl_ord_id"), params.get("userref")
    if cl_ord_id is not None and userref is not None:
        raise KrakenError("EGeneral:Invalid arguments:cl_ord_id and userref are mutually exclusive")
    if cl_ord_id is not None and not (_UUID.fullmatch(cl_ord_id) or _FREE_TEXT.fullmatch(cl_ord_id)):
        raise invalid("cl_ord_id")
    if userref is not None and not re.fullmatch(r"-?\d{1,10}", userref):
        raise invalid("userref")
    return cl_ord_id, int(userref) if userref is not None else None


def _close(params: dict[str, str]) -> dict[str, str]:
    ordertype = params.get("close[ordertype]")
    if ordertype is None:
        return {}
    if ordertype not in CLOSE_TYPES:
        raise invalid("close[ordertype]")
    close = {"ordertype": ordertype}
    for name in ("price", "price2"):
        value = number(params, f"close[{name}]", required=name == "price" or ordertype.endswith("-limit"))
        if value is not None:
            close[name] = format(value, "f")
    return close


def _check(book: Book, order: Order) -> None:
    pair = order.pair
    if -order.vol.as_tuple().exponent > pair.lot_decimals:  # type: ignore[operator]
        raise invalid("volume")
    for price in (order.price, order.price2):
        if price is not None and price % pair.tick_size:
            places = pair.pair_decimals
            raise KrakenError(
                f"EOrder:Invalid price:{pair.wsname} price can only be specified up to {places} decimals."
            )
    if order.vol < pair.ordermin:
        raise KrakenError("EOrder:Order minimum not met")
    if order.vol * book.reference_price(order) < pair.costmin:
        raise KrakenError("EOrder:Cost minimum not met")
    if order.cl_ord_id is not None and any(o.is_open and o.cl_ord_id == order.cl_ord_id for o in book.orders.values()):
        raise KrakenError("EOrder:Duplicate order")


def cancel_order(book: Book, keys: KeyRing, key: str, params: dict[str, str]) -> dict[str, Any]:
    """Cancel by `txid` (an order id, or a userref cancelling all its orders) or by `cl_ord_id`."""
    txid, cl_ord_id = params.get("txid"), params.get("cl_ord_id")
    if (txid is None) == (cl_ord_id is None):
        raise KrakenError("EGeneral:Invalid arguments")
    orders = [o for o in book.orders.values() if o.is_open and _names(o, txid, cl_ord_id)]
    if not orders:
        raise KrakenError("EOrder:Unknown order")
    for order in orders:
        keys.trade(key, order.pair.id, cancel_penalty(book.clock() - order.opentm))
        book.cancel(order)
    return {"count": len(orders), "pending": False}


def _names(order: Order, txid: str | None, cl_ord_id: str | None) -> bool:
    if cl_ord_id is not None:
        return order.cl_ord_id == cl_ord_id
    return txid in (order.txid, str(order.userref))
