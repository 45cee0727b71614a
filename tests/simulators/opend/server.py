"""`OpenDSimulator`: a loopback OpenD (moomoo's gateway) speaking its framed protobuf protocol.

Driven by the unmodified futu-api. A client must open with InitConnect (1001) and receives a
connection id and a keep-alive interval; the simulator has no RSA key, so it refuses a client
asking for encryption, as an OpenD without one does (https://openapi.moomoo.com/moomoo-api-doc/en/ftapi/init.html).
Order (2208) and fill (2218) pushes go to the connections that subscribed the account (2008); by
default they are written BEFORE the reply to the request that caused them, as OpenD often does.

Accounts: one real and one simulate account for each of the US (USD) and HK (HKD) markets, under
moomoo's US firm (FUTUINC). Faults (tests/simulators/base.py) match a protocol's name
("Trd_PlaceOrder"); `refuse_next(match, message)` makes OpenD answer retType -1 with `message`.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tests.simulators.base import DropConnection, SocketSimulator
from tests.simulators.opend import book, messages
from tests.simulators.opend.book import Account, Order, Refused
from tests.simulators.opend.market import MARKETS, listings
from tests.simulators.opend.quotes import Quotes
from tests.simulators.opend.trading import Call, Session, Trading
from tests.simulators.opend.wire import PROTO_IDS, Frame, ProtocolError, encode, parse_request, read_frame

# OpenD's answer when a protocol's frequency limit is exceeded (limits per 30 seconds).
RATE_LIMITS = {"Trd_PlaceOrder": 15, "Trd_ModifyOrder": 20, "Qot_GetSecuritySnapshot": 60}
RATE_MESSAGE = "Request frequency exceeds the limit: at most {n} requests per 30 seconds for this protocol"
SERVER_ERROR = "NN_ProtoRet_TimeOut"
KEEP_ALIVE_SECONDS = 10
BACKGROUND = frozenset({1004, 2008})  # sent by the SDK on its own: never consumes an injected fault
PUSHES = frozenset({2208, 2218})
FAULT_KINDS = ("rate_limit", "server_error", "timeout", "drop_response", "disconnect")


class OpenDSimulator(Trading, Quotes, SocketSimulator):
    name = "opend-simulator"

    def __init__(self, *, trade_password: str = "", cash: Decimal = Decimal("100000")) -> None:
        super().__init__()
        self.trade_password = trade_password
        self.login_user_id = 10_000_000 + secrets.randbelow(10**7)
        self.listings = listings()
        self.accounts: dict[int, Account] = {}
        for n, (env, market) in enumerate(itertools.product((book.REAL, book.SIMULATE), ("US", "HK"))):
            amount = cash * 8 if market == "HK" else cash  # an HK account's cash is in HKD
            acc_id = 283_445_000_000_000 + n if env == book.REAL else 9_120_000 + n
            self.accounts[acc_id] = Account(acc_id, env, MARKETS[market], amount, f"1001{n:012d}")
        self.orders: list[Order] = []
        self.ids = book.Ids()
        self.push_before_reply = True
        self.unlock_attempts = 0
        self.protocol_errors: list[str] = []
        self.wire: list[tuple[int, str, int, int]] = []  # (conn id, "in"/"out", proto id, serial)
        self._sessions: dict[int, tuple[Session, socket.socket, threading.Lock]] = {}
        self._refusals: list[list[Any]] = []  # [pattern, message, times]
        self._conn_ids = itertools.count(7_200_000_000 + secrets.randbelow(10**6))
        self._push_serials = itertools.count(1)
        self._handlers: dict[int, Callable[[Call], Any]] = {
            1001: self.init_connect,
            1004: self.keep_alive,
            2001: self.acc_list,
            2005: self.unlock,
            2008: self.sub_acc_push,
            2101: self.get_funds,
            2102: self.get_positions,
            2201: self.get_orders,
            2202: self.place_order,
            2205: self.modify_order,
            2221: self.get_history_orders,
            2225: self.get_order_fee,
            3202: self.static_info,
            3203: self.snapshot,
        }

    # -- controls for tests ------------------------------------------------------------------

    def account(self, market: str = "US", *, paper: bool = False) -> Account:
        env = book.SIMULATE if paper else book.REAL
        return next(a for a in self.accounts.values() if a.env == env and a.market.name == market)

    def code(self, symbol: str) -> str:
        return symbol if "." in symbol else f"{'HK' if symbol.isdigit() else 'US'}.{symbol}"

    def price(self, symbol: str) -> Decimal:
        return self.listings[self.code(symbol)].price

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the market; resting orders that it crosses fill (and are pushed)."""
        pushes: list[tuple[int, Any, int]] = []
        with self.lock:
            listing = self.listings[self.code(symbol)]
            listing.price = Decimal(price)
            for item in [o for o in self.orders if o.listing is listing and o.is_open]:
                self.match(item, pushes)
        self.push(pushes)

    def fill(self, order_id: str, qty: Decimal | None = None) -> None:
        """Fill a resting order (by orderIDEx) now, at its limit price or the market."""
        pushes: list[tuple[int, Any, int]] = []
        with self.lock:
            item = self.order(order_id)
            self.match(item, pushes, forced=item.price or item.listing.price, qty=qty)
        self.push(pushes)

    def fund(self, cash: Decimal, *, market: str = "US", paper: bool = False) -> None:
        with self.lock:
            self.account(market, paper=paper).cash = Decimal(cash)

    def hold(self, symbol: str, qty: Decimal, cost: Decimal, *, paper: bool = False) -> None:
        code = self.code(symbol)
        market = code.split(".", 1)[0]
        with self.lock:
            self.account(market, paper=paper).holdings[code] = book.Holding(Decimal(qty), Decimal(cost))

    def order(self, order_id: str) -> Order:
        return next(o for o in self.orders if o.order_id_ex == order_id)

    def roll_day(self) -> None:
        """A new trading day: today's orders move to the history (2221) and leave 2201's list."""
        with self.lock:
            for item in self.orders:
                item.today = False

    def refuse_next(self, match: str, message: str, *, times: int = 1) -> None:
        """Answer the next request whose protocol name matches with retType -1 and `message`."""
        with self.lock:
            self._refusals.append([re.compile(match), message, times])

    def received(self, proto: str) -> list[int]:
        """Connection ids that sent `proto` (a name), in order."""
        proto_id = PROTO_IDS[proto]
        return [conn for conn, way, pid, _ in list(self.wire) if way == "in" and pid == proto_id]

    # -- serving ----------------------------------------------------------------------------

    def serve(self, conn: socket.socket) -> None:
        session, send_lock = Session(), threading.Lock()
        try:
            while True:
                try:
                    frame = read_frame(conn)
                except ProtocolError as exc:
                    self.protocol_errors.append(str(exc))
                    return
                self.receive(session, conn, send_lock, frame)
        finally:
            with self.lock:
                self._sessions.pop(session.conn_id, None)

    def receive(self, session: Session, conn: socket.socket, send_lock: threading.Lock, frame: Frame) -> None:
        self.wire.append((session.conn_id, "in", frame.proto_id, frame.serial))
        if frame.proto_id != 1001 and not session.conn_id:
            self.protocol_errors.append(f"{frame.name} before InitConnect")
            raise DropConnection
        if frame.proto_id == 1001 and session.conn_id:
            self.protocol_errors.append("InitConnect sent twice on one connection")
            raise DropConnection
        try:
            request = parse_request(frame)
        except Exception as exc:  # any undecodable body is the client's fault
            self.protocol_errors.append(f"undecodable {frame.name}: {exc}")
            raise DropConnection from exc
        call = Call(session, frame, request)
        response = self.answer(call)
        if frame.proto_id == 1001 and response.retType == 0:
            with self.lock:
                self._sessions[session.conn_id] = (session, conn, send_lock)
        self.deliver(call, response, conn, send_lock)

    def answer(self, call: Call) -> Any:
        """The response to `call` (faults and refusals first); raises DropConnection to answer nothing."""
        proto_id, name = call.frame.proto_id, call.frame.name
        fault = None if proto_id in BACKGROUND else self.faults.take(name, FAULT_KINDS)
        if fault is not None and fault.kind in ("disconnect", "timeout"):
            time.sleep(fault.seconds if fault.kind == "timeout" else 0)
            raise DropConnection
        if fault is not None and fault.kind == "rate_limit":
            return messages.refusal(proto_id, RATE_MESSAGE.format(n=RATE_LIMITS.get(name, 10)))
        if fault is not None and fault.kind == "server_error":
            return messages.refusal(proto_id, SERVER_ERROR, ret_type=-100)
        refused = self.take_refusal(name)
        if refused is not None:
            return messages.refusal(proto_id, refused)
        response = self.dispatch(call)
        if fault is not None:  # drop_response: OpenD acted on it, the answer is lost
            self.push(call.pushes)
            raise DropConnection
        return response

    def dispatch(self, call: Call) -> Any:
        handler = self._handlers.get(call.frame.proto_id)
        if handler is None:
            return messages.refusal(call.frame.proto_id, f"Unsupported protocol {call.frame.proto_id}")
        with self.lock:
            replayed = call.session.packets.get(_packet_serial(call.request))
            if replayed is not None:
                return replayed
            try:
                response = handler(call)
            except Refused as exc:
                response = messages.refusal(call.frame.proto_id, str(exc))
            if (serial := _packet_serial(call.request)) is not None:
                call.session.packets[serial] = response
            return response

    def deliver(self, call: Call, response: Any, conn: socket.socket, send_lock: threading.Lock) -> None:
        if self.push_before_reply:
            self.push(call.pushes)
        self.send(call.session.conn_id, conn, send_lock, call.frame.proto_id, call.frame.serial, response)
        if not self.push_before_reply:
            self.push(call.pushes)

    def push(self, pushes: list[tuple[int, Any, int]]) -> None:
        with self.lock:
            sessions = list(self._sessions.values())
        for proto_id, message, acc_id in pushes:
            serial = next(self._push_serials)
            for session, conn, send_lock in sessions:
                if session.recv_notify and acc_id in session.subscribed:
                    with contextlib.suppress(OSError):
                        self.send(session.conn_id, conn, send_lock, proto_id, serial, message)

    def send(
        self, conn_id: int, conn: socket.socket, lock: threading.Lock, proto_id: int, serial: int, msg: Any
    ) -> None:
        with lock:
            conn.sendall(encode(proto_id, serial, msg))
            self.wire.append((conn_id, "out", proto_id, serial))

    def take_refusal(self, name: str) -> str | None:
        with self.lock:
            for entry in self._refusals:
                if entry[0].search(name):
                    entry[2] -= 1
                    if entry[2] <= 0:
                        self._refusals.remove(entry)
                    return str(entry[1])
        return None

    # -- connection protocols -----------------------------------------------------------------

    def init_connect(self, call: Call) -> Any:
        c2s = call.request.c2s
        if c2s.HasField("packetEncAlgo") and c2s.packetEncAlgo != -1:
            raise Refused("This OpenD has no RSA private key configured: encrypted connections are not accepted")
        if c2s.HasField("pushProtoFmt") and c2s.pushProtoFmt != 0:
            raise Refused("Only protobuf pushes are served")
        session = call.session
        session.conn_id = next(self._conn_ids)
        session.recv_notify = c2s.recvNotify
        response = messages.ok(1001)
        response.s2c.serverVer = 1011
        response.s2c.loginUserID = self.login_user_id
        response.s2c.connID = session.conn_id
        response.s2c.connAESKey = secrets.token_hex(8).upper()  # unused: the connection is not encrypted
        response.s2c.keepAliveInterval = KEEP_ALIVE_SECONDS
        return response

    def keep_alive(self, call: Call) -> Any:
        response = messages.ok(1004)
        response.s2c.time = int(time.time())
        return response


def _packet_serial(request: Any) -> int | None:
    """The PacketID serial of a place/modify request (OpenD answers a replayed PacketID once)."""
    c2s = request.c2s
    has = getattr(c2s, "HasField", None)
    try:
        return int(c2s.packetID.serialNo) if has and c2s.HasField("packetID") else None
    except ValueError:
        return None
