"""OpenD's trade protocols, as the reference describes them
(https://openapi.moomoo.com/moomoo-api-doc/en/trade/overview.html): account list (2001), unlock (2005),
push subscription (2008), funds (2101), positions (2102), orders today (2201), place (2202),
modify/cancel (2205), history (2221), fees (2225), and the order (2208) and fill (2218) pushes.

Real accounts trade only on a connection that unlocked them with the trade password (its MD5);
simulate accounts need no unlock. Every trade request names its account in a `TrdHeader` whose
environment and market must match the account; place and modify carry a `PacketID` whose connID is
the connection's and whose serial number is the frame's (a replayed PacketID is answered once).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tests.simulators.opend import book, messages
from tests.simulators.opend.book import Account, Fill, Order, Refused
from tests.simulators.opend.market import BY_TRD, CURRENCIES, decimal, on_tick
from tests.simulators.opend.wire import Frame

if TYPE_CHECKING:
    from tests.simulators.opend.server import OpenDSimulator

LOCKED = "Please unlock trade first (unlock_trade) before placing or modifying orders on a real account"
BAD_PASSWORD = "Unlock failed: the trade password is incorrect"
CANCEL, MODIFY = 2, 1
FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")


@dataclass
class Session:
    """One client connection's state in OpenD."""

    conn_id: int = 0
    unlocked: bool = False
    recv_notify: bool = False
    subscribed: frozenset[int] = frozenset()
    packets: dict[int, Any] = field(default_factory=dict)  # PacketID serial → the answer given


@dataclass
class Call:
    session: Session
    frame: Frame
    request: Any
    pushes: list[tuple[int, Any, int]] = field(default_factory=list)  # (proto id, message, account id)


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class Trading:
    """The trade handlers of `OpenDSimulator` (a mixin over its books)."""

    def acc_list(self: OpenDSimulator, call: Call) -> Any:
        c2s = call.request.c2s
        if c2s.userID != self.login_user_id:
            raise Refused("userID does not match the logged-in user")
        response = messages.ok(2001)
        if c2s.trdCategory in (0, 1):  # unknown or securities
            for account in self.accounts.values():
                messages.trd_acc(response.s2c.accList.add(), account)
        return response

    def unlock(self: OpenDSimulator, call: Call) -> Any:
        c2s = call.request.c2s
        if c2s.securityFirm != messages.SECURITY_FIRM_FUTUINC:
            raise Refused("Something wrong with the specified securities firm")
        if c2s.unlock:
            self.unlock_attempts += 1
            if not self.trade_password or c2s.pwdMD5.lower() != md5(self.trade_password):
                raise Refused(BAD_PASSWORD)
        call.session.unlocked = c2s.unlock
        return messages.ok(2005)

    def sub_acc_push(self: OpenDSimulator, call: Call) -> Any:
        wanted = frozenset(call.request.c2s.accIDList)
        if not wanted <= self.accounts.keys():
            raise Refused("Unknown account in accIDList")
        call.session.subscribed = wanted
        return messages.ok(2008)

    def get_funds(self: OpenDSimulator, call: Call) -> Any:
        c2s = call.request.c2s
        account = self.account_for(c2s.header)
        currency = CURRENCIES.get(c2s.currency, account.market.currency) if c2s.HasField("currency") else None
        response = messages.ok(2101)
        messages.header(response.s2c.header, account)
        messages.funds(response.s2c.funds, account, self.orders, self.listings, currency or account.market.currency)
        return response

    def get_positions(self: OpenDSimulator, call: Call) -> Any:
        account = self.account_for(call.request.c2s.header)
        response = messages.ok(2102)
        messages.header(response.s2c.header, account)
        for number, code in enumerate(sorted(account.holdings), start=1):
            target = response.s2c.positionList.add()
            messages.position(target, account, self.listings[code], account.acc_id * 1000 + number)
        return response

    def get_orders(self: OpenDSimulator, call: Call) -> Any:
        c2s = call.request.c2s
        account = self.account_for(c2s.header)
        chosen = [o for o in self.orders if o.account is account and o.today]
        return self.order_list(2201, account, _filtered(chosen, c2s.filterConditions, c2s.filterStatusList))

    def get_history_orders(self: OpenDSimulator, call: Call) -> Any:
        c2s = call.request.c2s
        account = self.account_for(c2s.header)
        conditions = c2s.filterConditions
        begin, end = _time(conditions.beginTime), _time(conditions.endTime)
        if begin is None or end is None:
            raise Refused("beginTime and endTime are required for history orders")
        tz = account.market.tz
        chosen = [
            o
            for o in self.orders
            # The SDK's end defaults to the caller's local date: allow a day for time zones.
            if o.account is account and begin <= o.created.astimezone(tz).replace(tzinfo=None) <= _next_day(end)
        ]
        return self.order_list(2221, account, _filtered(chosen, conditions, c2s.filterStatusList))

    def order_list(self: OpenDSimulator, proto_id: int, account: Account, orders: list[Order]) -> Any:
        response = messages.ok(proto_id)
        messages.header(response.s2c.header, account)
        for item in sorted(orders, key=lambda o: o.created, reverse=True):
            messages.order(response.s2c.orderList.add(), item)
        return response

    def get_order_fee(self: OpenDSimulator, call: Call) -> Any:
        c2s = call.request.c2s
        account = self.account_for(c2s.header)
        wanted = set(c2s.orderIdExList)
        response = messages.ok(2225)
        messages.header(response.s2c.header, account)
        for item in self.orders:
            if item.account is account and item.order_id_ex in wanted:
                messages.order_fee(response.s2c.orderFeeList.add(), item)
        return response

    def place_order(self: OpenDSimulator, call: Call) -> Any:
        c2s = call.request.c2s
        account = self.trading_account(call)
        item = self.new_order(account, c2s)
        book.check_affordable(item, self.orders)
        self.orders.append(item)
        self.emit_order(call.pushes, item)
        self.match(item, call.pushes)
        response = messages.ok(2202)
        messages.header(response.s2c.header, account)
        response.s2c.orderID = item.order_id
        response.s2c.orderIDEx = item.order_id_ex
        return response

    def modify_order(self: OpenDSimulator, call: Call) -> Any:
        c2s = call.request.c2s
        account = self.trading_account(call)
        targets = [o for o in self.orders if o.account is account and o.is_open] if c2s.forAll else [self.find(c2s)]
        for item in targets:
            if item.account is not account:
                raise Refused("The order does not belong to this account")
            self.apply_modification(item, c2s, call.pushes)
        response = messages.ok(2205)
        messages.header(response.s2c.header, account)
        response.s2c.orderID = targets[0].order_id if len(targets) == 1 else 0
        response.s2c.orderIDEx = targets[0].order_id_ex if len(targets) == 1 else ""
        return response

    # -- helpers -------------------------------------------------------------------------

    def account_for(self: OpenDSimulator, header: Any) -> Account:
        account = self.accounts.get(header.accID)
        if account is None:
            raise Refused(f"Nonexisting acc_id {header.accID}")
        if header.trdEnv != account.env:
            raise Refused("The trading environment does not match the account")
        if header.trdMarket != account.market.trd_market:
            raise Refused("The account has no authority for this trading market")
        return account

    def trading_account(self: OpenDSimulator, call: Call) -> Account:
        c2s, session = call.request.c2s, call.session
        if c2s.packetID.connID != session.conn_id or c2s.packetID.serialNo != call.frame.serial:
            raise Refused("Invalid packetID: connID and serialNo must be this connection's")
        account = self.account_for(c2s.header)
        if account.env == book.REAL and not session.unlocked:
            raise Refused(LOCKED)
        return account

    def new_order(self: OpenDSimulator, account: Account, c2s: Any) -> Order:
        market = BY_TRD.get(c2s.secMarket)
        listing = self.listings.get(f"{market.name}.{c2s.code}") if market else None
        if listing is None:
            raise Refused(f"Unknown stock {market.name if market else '?'}.{c2s.code}")
        if listing.market is not account.market:
            raise Refused("The account has no authority to trade this market")
        qty, price = decimal(c2s.qty), decimal(c2s.price)
        aux = decimal(c2s.auxPrice) if c2s.HasField("auxPrice") else None
        _validate(listing.market.name, listing.lot_size, c2s, qty, price, aux)
        now = datetime.now(listing.market.tz)
        order_id, order_id_ex = self.ids.order(now.strftime("%Y%m%d"))
        return Order(
            order_id, order_id_ex, account, listing, c2s.trdSide, c2s.orderType, qty,
            price if c2s.orderType in (book.LIMIT, book.STOP_LIMIT) else Decimal(0),
            aux, c2s.timeInForce, c2s.remark, now, now,
        )  # fmt: skip

    def find(self: OpenDSimulator, c2s: Any) -> Order:
        for item in self.orders:
            if (c2s.orderIDEx and item.order_id_ex == c2s.orderIDEx) or (
                not c2s.orderIDEx and item.order_id == c2s.orderID
            ):
                return item
        raise Refused("The order does not exist")

    def apply_modification(self: OpenDSimulator, item: Order, c2s: Any, pushes: list) -> None:
        if not item.is_open:
            raise Refused("The order is already filled or cancelled and cannot be modified")
        if c2s.modifyOrderOp == CANCEL:
            book.cancel(item, datetime.now(item.listing.market.tz))
        elif c2s.modifyOrderOp == MODIFY:
            item.qty, item.price = decimal(c2s.qty), decimal(c2s.price)
            item.updated = datetime.now(item.listing.market.tz)
        else:
            raise Refused("Unsupported modifyOrderOp")
        self.emit_order(pushes, item)
        self.match(item, pushes)

    def match(
        self: OpenDSimulator, item: Order, pushes: list, forced: Decimal | None = None, qty: Decimal | None = None
    ) -> None:
        """Fill what the market allows now (or `forced`, at that price; `qty` of it) and push the news."""
        if not item.is_open:
            return
        price = forced if forced is not None else book.execution_price(item, item.listing.price)
        if price is None:
            return
        now = datetime.now(item.listing.market.tz)
        fill_id, fill_id_ex = self.ids.fill(now.strftime("%Y%m%d"))
        fill = Fill(fill_id, fill_id_ex, min(qty or item.remaining, item.remaining), price, now)
        book.apply_fill(item, fill)
        self.emit_fill(pushes, item, fill)
        self.emit_order(pushes, item)

    def emit_order(self: OpenDSimulator, pushes: list, item: Order) -> None:
        push = messages.ok(2208)
        messages.header(push.s2c.header, item.account)
        messages.order(push.s2c.order, item)
        pushes.append((2208, push, item.account.acc_id))

    def emit_fill(self: OpenDSimulator, pushes: list, item: Order, fill: Fill) -> None:
        push = messages.ok(2218)
        messages.header(push.s2c.header, item.account)
        messages.order_fill(push.s2c.orderFill, item, fill)
        copies = 2 if self.faults.take("Trd_UpdateOrderFill", ("duplicate_fill",)) else 1
        pushes.extend([(2218, push, item.account.acc_id)] * copies)


def _validate(market: str, lot: int, c2s: Any, qty: Decimal, price: Decimal, aux: Decimal | None) -> None:
    if c2s.trdSide not in (book.BUY, book.SELL):
        raise Refused("Unsupported trdSide")
    if c2s.orderType not in (book.LIMIT, book.MARKET, book.STOP, book.STOP_LIMIT):
        raise Refused("Unsupported order type")
    if c2s.timeInForce not in (0, 1):
        raise Refused("Unsupported timeInForce for this order")
    if qty <= 0 or qty % lot:
        raise Refused(f"The quantity must be a positive multiple of the lot size ({lot})")
    if c2s.orderType in (book.LIMIT, book.STOP_LIMIT) and not on_tick(market, price):
        raise Refused("The price does not conform to the price spread")
    if c2s.orderType in (book.STOP, book.STOP_LIMIT) and (aux is None or aux <= 0):
        raise Refused("auxPrice (the trigger price) is required for stop orders")
    if len(c2s.remark.encode()) > 64:
        raise Refused("remark is longer than 64 bytes")


def _filtered(orders: list[Order], conditions: Any, statuses: Any) -> list[Order]:
    ex_ids, ids, codes = set(conditions.orderIDExList), set(conditions.idList), set(conditions.codeList)
    return [
        o
        for o in orders
        if (not ex_ids or o.order_id_ex in ex_ids)
        and (not ids or o.order_id in ids)
        and (not codes or o.listing.short_code in codes)
        and (not statuses or o.status in statuses)
    ]


def _time(text: str) -> datetime | None:
    for fmt in FORMATS:
        try:
            return datetime.strptime(text, fmt)  # noqa: DTZ007 - OpenD times are market-local and naive
        except ValueError:
            continue
    return None


def _next_day(moment: datetime) -> datetime:
    return moment + timedelta(days=1)
