"""`IbkrAdapter`: Interactive Brokers through the user's IB Gateway/TWS, over ib_async.

One long-lived API socket per connection, owned by this instance (the gateway worker keeps one
instance per connection). ib_async runs on the instance's own event loop thread; each public
method is marshalled onto it, first (re)connecting if the socket dropped, and is bounded by
the capability's timeout. Safe to call from several threads while push events arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import ClassVar, TypeVar

from ib_async import IB, Contract, Trade

from brokers.adapters.base import (
    Account,
    AdapterContext,
    Balance,
    BrokerUnavailable,
    FeeSchedule,
    Instrument,
    InvalidSymbol,
    OrderListener,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderState,
    Position,
    Quote,
)
from brokers.adapters.ibkr import orders, payloads
from brokers.adapters.ibkr.errors import TRANSLATOR
from brokers.adapters.ibkr.gateway import Gateway, GatewaySilent, endpoint
from brokers.adapters.ibkr.runner import Dispatcher, LoopThread
from brokers.adapters.registry import get_spec

T = TypeVar("T")
CONNECT_TIMEOUT = 4.0  # handshake, then up to twice this for the start-up sync: within the call's 15 s
SUMMARY_TAGS = "NetLiquidation,TotalCashValue,SettledCash,BuyingPower,AvailableFunds"


def _now() -> datetime:
    return datetime.now(UTC)


class IbkrAdapter:
    key: ClassVar[str] = "ibkr"

    def __init__(
        self,
        credentials: Mapping[str, str],
        *,
        paper: bool,
        context: AdapterContext,
        timeout: float | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        where = endpoint(credentials, paper=paper, connection_id=context.connection_id)
        self.client_id = where.client_id
        self._paper = paper
        self._timeout = timeout or get_spec(self.key).capabilities.timeout_seconds
        self._gateway = Gateway(where, connect_timeout=connect_timeout, on_trade=self._pushed, on_sync=self._resync)
        self._runner = LoopThread(f"ibkr-{where.client_id}")
        self._dispatcher = Dispatcher(f"ibkr-{where.client_id}-listeners")
        self._listeners: list[OrderListener] = []
        self._known: dict[str, tuple[object, ...]] = {}  # broker order id → what its owner last heard
        self._contracts: dict[str, Contract] = {}
        self._closed = False

    # -- plumbing ----------------------------------------------------------------------------

    def _run(self, work: Callable[[IB], Awaitable[T]]) -> T:
        if self._closed:
            raise BrokerUnavailable("This Interactive Brokers session is closed.")

        async def call() -> T:
            return await work(await self._gateway.ensure())

        try:
            return self._runner.call(call(), self._timeout)
        except TimeoutError as exc:
            raise GatewaySilent(f"IB Gateway/TWS did not answer within {self._timeout:g} s.") from exc

    async def _contract(self, ib: IB, symbol: str) -> Contract:
        """The qualified stock contract; ib_async gives [None] for a symbol IB does not know."""
        if symbol not in self._contracts:
            (found,) = await self._gateway.call(ib.qualifyContractsAsync(payloads.stock(symbol)), self._timeout)
            if not isinstance(found, Contract):
                raise InvalidSymbol(f"Interactive Brokers has no US stock {symbol!r} (SMART, USD).")
            self._contracts[symbol] = found
        return self._contracts[symbol]

    def _state(self, ib: IB, trade: Trade) -> OrderState:
        state = orders.state(trade, ib.trades(), _now())
        self._known[state.broker_order_id] = orders.signature(state)
        return state

    async def _trade(self, ib: IB, broker_order_id: str) -> Trade:
        for refresh in (False, True):
            if refresh:
                await self._refresh(ib)
            found = next((t for t in ib.trades() if str(orders.perm_id(t)) == broker_order_id), None)
            if found is not None:
                return found
        raise OrderNotFound(f"Interactive Brokers has no order {broker_order_id} on this account.")

    async def _refresh(self, ib: IB) -> None:
        """Open and completed orders as the gateway has them now (e.g. placed before a reconnect)."""
        await self._gateway.call(ib.reqOpenOrdersAsync(), self._timeout)
        await self._gateway.call(ib.reqCompletedOrdersAsync(apiOnly=False), self._timeout)

    # -- account -----------------------------------------------------------------------------

    @TRANSLATOR.edge
    def connect(self) -> Account:
        """Connect (handshake, client id, managed accounts) and describe the account in its base currency."""
        balance = self.balance()
        return Account(self._gateway.account, balance.currency, self._paper)

    @TRANSLATOR.edge
    def heartbeat(self) -> None:
        """Reconnect if needed and ask the gateway's time: BrokerUnavailable when it is gone.

        A gateway that keeps the socket open but stops answering (or a half-open TCP connection)
        gets the socket closed, so the next call connects afresh.
        """
        try:
            self._run(lambda ib: self._gateway.call(ib.reqCurrentTimeAsync(), self._timeout))
        except GatewaySilent:
            with contextlib.suppress(RuntimeError):  # the loop is gone if closed meanwhile
                self._runner.loop.call_soon_threadsafe(self._gateway.disconnect)
            raise

    @TRANSLATOR.edge
    def balance(self) -> Balance:
        async def work(ib: IB) -> Balance:
            req_id = ib.client.getReqId()
            done = ib.wrapper.startReq(req_id)
            ib.client.reqAccountSummary(req_id, "All", SUMMARY_TAGS)
            try:
                await self._gateway.call(done, self._timeout)
            finally:  # TWS allows two summary subscriptions at a time: end each one
                if ib.isConnected():
                    ib.client.cancelAccountSummary(req_id)
            values = [v for v in ib.wrapper.acctSummary.values() if v.account == self._gateway.account]
            if not values:
                raise BrokerUnavailable("IB Gateway/TWS sent no account summary for this account.")
            return payloads.balance(values, _now())

        return self._run(work)

    @TRANSLATOR.edge
    def positions(self) -> list[Position]:
        """From the portfolio and position updates ib_async keeps subscribed."""

        async def work(ib: IB) -> list[Position]:
            account = self._gateway.account
            return payloads.positions(ib.portfolio(account), ib.positions(account))

        return self._run(work)

    # -- orders ------------------------------------------------------------------------------

    @TRANSLATOR.edge
    def place_order(self, request: OrderRequest) -> OrderState:
        """Place an order or a native bracket; a repeated client order id returns the order already placed."""

        async def work(ib: IB) -> OrderState:
            existing = orders.by_ref(ib.trades(), request.client_order_id)
            if existing is not None:
                return self._state(ib, existing)
            contract = await self._contract(ib, request.symbol)
            ids = (ib.client.getReqId() for _ in range(3))
            trades = [
                ib.placeOrder(contract, order)
                for order in orders.build(request, account=self._gateway.account, order_ids=ids)
            ]
            await self._gateway.until(lambda: all(orders.settled(t, _now()) for t in trades), self._timeout)
            if (error := orders.placement_error(trades[0])) is not None:
                raise error
            return self._state(ib, trades[0])

        return self._run(work)

    @TRANSLATOR.edge
    def cancel_order(self, broker_order_id: str) -> OrderState:
        async def work(ib: IB) -> OrderState:
            trade = await self._trade(ib, broker_order_id)
            if trade.orderStatus.status == "Filled":
                raise OrderRejected("The order is already filled.")
            if not trade.isDone():
                ib.cancelOrder(trade.order)
                await self._gateway.until(lambda: trade.isDone() or orders.cancel_refused(trade), self._timeout)
            if trade.orderStatus.status == "Filled":
                raise OrderRejected("The order filled before it could be cancelled.")
            return self._state(ib, trade)

        return self._run(work)

    @TRANSLATOR.edge
    def get_order(self, broker_order_id: str) -> OrderState:
        async def work(ib: IB) -> OrderState:
            return self._state(ib, await self._trade(ib, broker_order_id))

        return self._run(work)

    @TRANSLATOR.edge
    def find_order(self, client_order_id: str) -> OrderState | None:
        """By `orderRef`, among this session's orders, then the gateway's open and completed orders."""

        async def work(ib: IB) -> OrderState | None:
            if orders.by_ref(ib.trades(), client_order_id) is None:
                await self._refresh(ib)
            found = orders.by_ref(ib.trades(), client_order_id)
            return None if found is None else self._state(ib, found)

        return self._run(work)

    @TRANSLATOR.edge
    def open_orders(self) -> list[OrderState]:
        """Open orders, a bracket's exits reported with their entry."""

        async def work(ib: IB) -> list[OrderState]:
            trades = ib.trades()
            roots = [t for t in ib.openTrades() if not orders.is_leg(t) or orders.parent_of(t, trades) is None]
            return [self._state(ib, t) for t in orders.newest_first(roots)]

        return self._run(work)

    @TRANSLATOR.edge
    def order_history(self, *, limit: int = 100) -> list[OrderState]:
        async def work(ib: IB) -> list[OrderState]:
            trades = ib.trades()
            roots = [t for t in trades if not orders.is_leg(t) or orders.parent_of(t, trades) is None]
            return [self._state(ib, t) for t in orders.newest_first(roots)[: max(limit, 0)]]

        return self._run(work)

    # -- market data and reference data ----------------------------------------------------------

    @TRANSLATOR.edge
    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Snapshot market data (reqMktData with snapshot=True) for the symbols IB knows."""

        async def work(ib: IB) -> dict[str, Quote]:
            contracts: dict[str, Contract] = {}
            for symbol in dict.fromkeys(symbols):
                with contextlib.suppress(InvalidSymbol):
                    contracts[symbol] = await self._contract(ib, symbol)
            tickers = await self._gateway.call(ib.reqTickersAsync(*contracts.values()), self._timeout)
            found = (payloads.quote(s, t, _now()) for s, t in zip(contracts, tickers, strict=True))
            return {q.symbol: q for q in found if q is not None}

        return self._run(work) if symbols else {}

    @TRANSLATOR.edge
    def instrument(self, symbol: str) -> Instrument:
        async def work(ib: IB) -> Instrument:
            details = await self._gateway.call(ib.reqContractDetailsAsync(payloads.stock(symbol)), self._timeout)
            if not details:  # error 200: no security definition
                raise InvalidSymbol(f"Interactive Brokers has no US stock {symbol!r} (SMART, USD).")
            return payloads.instrument(details[0])

        return self._run(work)

    def instruments(self) -> list[Instrument]:
        """IB cannot list every contract it trades: symbols are looked up one by one."""
        return []

    def fees(self) -> FeeSchedule:
        return payloads.FEES

    # -- push ----------------------------------------------------------------------------------

    def subscribe(self, listener: OrderListener) -> None:
        """Call `listener` with an order's state on each orderStatus, execDetails and commissionReport."""
        self._listeners.append(listener)
        if not self._closed:  # connect now so pushes flow without waiting for a call
            asyncio.run_coroutine_threadsafe(_quietly(self._gateway.ensure()), self._runner.loop)

    def _pushed(self, trade: Trade) -> None:
        """On the loop: report the order (a bracket's entry, with its exits) if its owner has not heard it."""
        if not self._listeners:
            return
        ib = self._gateway.ib
        root = orders.parent_of(trade, ib.trades()) if orders.is_leg(trade) else None
        state = orders.state(root or trade, ib.trades(), _now())
        if state.broker_order_id in ("", "0") or self._known.get(state.broker_order_id) == orders.signature(state):
            return
        self._known[state.broker_order_id] = orders.signature(state)
        for listener in list(self._listeners):
            self._dispatcher.put(listener, state)

    def _resync(self) -> None:
        """After a reconnect: report the orders that changed while the socket was down."""
        for trade in self._gateway.ib.trades():
            if str(orders.perm_id(trade)) in self._known:
                self._pushed(trade)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._runner.call(_quietly(_disconnect(self._gateway)), 5.0)
        self._runner.stop()
        self._dispatcher.stop()


# --- helpers ---------------------------------------------------------------------------------


async def _quietly(work: Awaitable[object]) -> None:
    with contextlib.suppress(Exception):
        await work


async def _disconnect(gateway: Gateway) -> None:
    gateway.disconnect()
