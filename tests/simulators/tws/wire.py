"""TWS API wire format: length-prefixed frames of NUL-terminated fields, and the messages the gateway sends.

Every frame is a 4-byte big-endian length followed by that many bytes of fields, each ended by
a NUL (the TWS API socket protocol, https://interactivebrokers.github.io/tws-api/, as ib_async's
`client.py` frames it). The field order of each message below is the one ib_async's `decoder.py` (and IB's
own `EDecoder`) reads for server versions 157-178; where a field depends on the negotiated
server version, the encoder takes that version.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tests.simulators.base import recv_exact

if TYPE_CHECKING:
    from tests.simulators.tws.book import Holding, Listing, SimExecution, SimOrder

# Incoming message ids (https://interactivebrokers.github.io/tws-api/ "outgoing" from the client).
REQUESTS = {
    1: "reqMktData",
    2: "cancelMktData",
    3: "placeOrder",
    4: "cancelOrder",
    5: "reqOpenOrders",
    6: "reqAccountUpdates",
    7: "reqExecutions",
    8: "reqIds",
    9: "reqContractDetails",
    15: "reqAutoOpenOrders",
    16: "reqAllOpenOrders",
    17: "reqManagedAccts",
    49: "reqCurrentTime",
    58: "reqGlobalCancel",
    59: "reqMarketDataType",
    61: "reqPositions",
    62: "reqAccountSummary",
    63: "cancelAccountSummary",
    64: "cancelPositions",
    71: "startApi",
    76: "reqAccountUpdatesMulti",
    77: "cancelAccountUpdatesMulti",
    99: "reqCompletedOrders",
}


def fmt(value: Any) -> str:
    """One field as TWS writes it: plain decimals, 1/0 booleans, empty for "unset"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    return str(value)


def frame(fields: Iterable[Any]) -> bytes:
    payload = "".join(f"{fmt(f)}\0" for f in fields).encode()
    return struct.pack(">I", len(payload)) + payload


def read_frame(conn: socket.socket) -> list[str]:
    (size,) = struct.unpack(">I", recv_exact(conn, 4))
    return recv_exact(conn, size).decode(errors="replace").split("\0")[:-1]


def ib_time(when: datetime) -> str:
    """`yyyymmdd hh:mm:ss tz`, how TWS stamps connection and execution times."""
    return when.astimezone(UTC).strftime("%Y%m%d %H:%M:%S") + " UTC"


# --- contract field groups ------------------------------------------------------------------


def _contract(listing: Listing, *, exchange: str) -> list[Any]:
    """conId … tradingClass as openOrder/execDetails/position/portfolio carry them (11 fields)."""
    return [listing.con_id, listing.ib_symbol, "STK", "", "0", "", "", exchange, "USD", listing.ib_symbol, "NMS"]


# --- messages --------------------------------------------------------------------------------


def error(req_id: int, code: int, text: str, version: int) -> list[Any]:
    fields: list[Any] = [4, 2, req_id, code, text]
    if version >= 166:
        fields.append("")  # advancedOrderRejectJson
    return fields


def contract_details(req_id: int, listing: Listing, version: int) -> list[Any]:
    head: list[Any] = [10] if version >= 164 else [10, 8]
    head += [req_id, listing.ib_symbol, "STK", "", "0", "", "SMART", "USD", listing.ib_symbol, "NMS", "NMS"]
    head += [listing.con_id, listing.min_tick]
    if version < 164:
        head.append(1)  # mdSizeMultiplier, obsolete
    head += ["", "ACTIVETIM,AD,ALERT,ALLOC,LMT,MKT,STP,STPLMT,TRAIL", "SMART,NASDAQ,NYSE,ARCA", 1, 0]
    head += [listing.long_name, listing.exchange, "", "Technology", "Computers", "Computers", "US/Eastern"]
    head += ["20240101:0400-20240101:2000", "20240101:0930-20240101:1600", "", "", 0]  # … evMultiplier, no secIds
    head += [1, "", "", "26", "", "COMMON"]  # aggGroup … stockType
    if version == 163:
        head.append(1)
    if version >= 164:
        head += [1, 1, 100]  # minSize, sizeIncrement, suggestedSizeIncrement
    return head


def order_status(o: SimOrder) -> list[Any]:
    avg = o.avg_price if o.filled else 0
    return [
        3,
        o.order_id,
        o.status,
        o.filled,
        o.remaining,
        avg,
        o.perm_id,
        o.parent_id,
        o.last_fill,
        o.client_id,
        "",
        0,
    ]


def open_order(o: SimOrder, version: int) -> list[Any]:
    f: list[Any] = [5, o.order_id, *_contract(o.listing, exchange="SMART")]
    f += [o.action, o.qty, o.order_type, o.lmt, o.aux, o.tif, o.oca_group, o.account, "O", 0, o.order_ref]
    f += [o.client_id, o.perm_id, 0, 0, 0, "", "", "", "", ""]  # outsideRth … sharesAllocation, FA params
    if version < 177:
        f.append("")  # faProfile
    f += ["", "", "", "", "", 0, "", -1, 0, "", "", "", "", ""]  # modelCode … stockRangeUpper
    f += ["", 0, 0, 0, "", 0, 0, 0, "", o.parent_id, 0, "", "", "", ""]  # displaySize … deltaNeutralAuxPrice
    f += [0, "", "", "", "", "", "", 0, 0, 0, "", "", "", ""]  # continuousUpdate … no legs/params, scale, hedge
    f += [0, "", "", 0, 0, ""]  # optOutSmartRouting, clearing, notHeld, no delta-neutral, algoStrategy
    f += [0, 0, o.status, "", "", "", "", "", "", "", "", "", "", "", "", "", "", 0, 0]  # … randomizePrice
    f += [0, "", "", "", "", "", "", "", 0, "", "", "", "", 0, 0, 0, 0]  # conditions … usePriceMgmtAlgo
    f += _tail(version, open_order=True)
    return f


def completed_order(o: SimOrder, version: int) -> list[Any]:
    f: list[Any] = [101, *_contract(o.listing, exchange="SMART")]
    f += [o.action, o.qty, o.order_type, o.lmt, o.aux, o.tif, o.oca_group, o.account, "O", 0, o.order_ref]
    f += [o.perm_id, 0, 0, 0, "", "", "", ""]  # outsideRth … FA params
    if version < 177:
        f.append("")
    f += ["", "", "", "", "", 0, "", -1, "", "", "", "", "", "", 0, 0, "", 0, 0, "", "", "", ""]
    f += [0, "", "", "", "", 0, 0, 0, "", "", "", "", "", "", 0, 0, ""]  # … clearing, notHeld, dnc, algo
    f += [0, o.status, 0, 0, 0]  # solicited, status, randomize flags, no conditions
    f += ["", "", "", 0, 0, "", o.filled, 0, 0, "", 0, 0, o.parent_perm_id, o.completed_time, o.completed_status]
    f += _tail(version, open_order=False)
    return f


def _tail(version: int, *, open_order: bool) -> list[Any]:
    tail: list[Any] = []
    if open_order:
        tail += [""] if version >= 159 else []  # duration
        tail += [""] if version >= 160 else []  # postToAts
        tail += [0] if version >= 162 else []  # autoCancelParent
    if version >= 170:
        tail += ["", "", "", "", ""]  # minTradeQty … midOffsetAtHalf
    return tail


def exec_details(req_id: int, ex: SimExecution, version: int) -> list[Any]:
    o = ex.order
    f: list[Any] = [11, req_id, o.order_id, *_contract(o.listing, exchange=o.listing.exchange)]
    f += [ex.exec_id, ib_time(ex.time), o.account, o.listing.exchange, "BOT" if o.is_buy else "SLD"]
    f += [ex.qty, ex.price, o.perm_id, o.client_id, 0, ex.cum_qty, ex.avg_price, o.order_ref, "", "", "", 2]
    if version >= 178:
        f.append(0)  # pendingPriceRevision
    return f


def commission_report(ex: SimExecution, currency: str) -> list[Any]:
    return [59, 1, ex.exec_id, ex.commission, currency, ex.realized or "", "", ""]


def position(account: str, listing: Listing, holding: Holding) -> list[Any]:
    return [61, 3, account, *_contract(listing, exchange=""), holding.qty, holding.avg_cost]


def portfolio(account: str, listing: Listing, holding: Holding) -> list[Any]:
    value = holding.qty * listing.price
    pnl = value - holding.qty * holding.avg_cost
    row = [7, 8, *_contract(listing, exchange=listing.exchange), holding.qty, listing.price, value, holding.avg_cost]
    return [*row, pnl, holding.realized, account]


def account_value(key: str, value: Any, currency: str, account: str) -> list[Any]:
    return [6, 2, key, value, currency, account]


def tick_price(req_id: int, tick_type: int, price: Decimal, size: int) -> list[Any]:
    return [1, 6, req_id, tick_type, price, size, 0]


def tick_size(req_id: int, tick_type: int, size: int) -> list[Any]:
    return [2, 6, req_id, tick_type, size]
