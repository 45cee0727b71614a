"""OpenD's order (2208) and fill (2218) pushes, as our `OrderState`s for one listener.

OpenD pushes every account the connection subscribed (futu subscribes all of the market's accounts),
so pushes of other accounts are dropped. A push may arrive before the reply to the request that
caused it, and a fill may be pushed twice: each deal id reaches the listener once, and a state is
never announced twice in a row.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from brokers.adapters.base import BrokerError, Execution, OrderListener, OrderState
from brokers.adapters.moomoo import payloads
from brokers.adapters.moomoo.payloads import Market
from brokers.adapters.moomoo.sdk import futu

logger = logging.getLogger(__name__)

REMEMBERED_ORDERS = 2000


class PushRelay:
    """Keeps each order's latest state and fills; tells the listener what changed."""

    def __init__(self, market: Market, *, account: Callable[[], int], fetch: Callable[[str], OrderState]) -> None:
        self.market = market
        self._account = account
        self.listener: OrderListener | None = None
        self._fetch = fetch
        self._lock = threading.Lock()
        self._states: OrderedDict[str, OrderState] = OrderedDict()
        self._fills: dict[str, dict[str, Execution]] = {}

    def handlers(self) -> list[Any]:
        order_handler, fill_handler = _handler_classes()
        return [order_handler(self), fill_handler(self)]

    def remember(self, state: OrderState) -> OrderState:
        """`state` with the fills pushed for it so far (the latest figures win)."""
        with self._lock:
            state = payloads.with_fills(state, self._fills.get(state.broker_order_id, {}).values())
            self._store(state)
        return state

    def order_pushed(self, acc_id: int, row: dict[str, Any]) -> None:
        if acc_id != self._account():
            return
        state = payloads.order_state(row, self.market)
        with self._lock:
            state = payloads.with_fills(state, self._fills.get(state.broker_order_id, {}).values())
            previous = self._states.get(state.broker_order_id)
            if previous is not None and (previous == state or _stale(state, previous)):
                return
            self._store(state)
        self._announce(state)

    def fill_pushed(self, acc_id: int, row: dict[str, Any]) -> None:
        if acc_id != self._account():
            return
        fill, order_id = payloads.execution(row, self.market), str(row["order_id"])
        with self._lock:
            known = self._fills.setdefault(order_id, {})
            if fill.execution_id in known:  # OpenD pushed this deal again
                return
            known[fill.execution_id] = fill
            base = self._states.get(order_id)
        if base is None:
            try:
                base = self._fetch(order_id)
            except BrokerError as exc:
                logger.warning("moomoo: fill %s of order %s not announced: %s", fill.execution_id, order_id, exc)
                return
        self._announce(self.remember(base))

    def _store(self, state: OrderState) -> None:
        self._states[state.broker_order_id] = state
        self._states.move_to_end(state.broker_order_id)
        while len(self._states) > REMEMBERED_ORDERS:
            forgotten, _ = self._states.popitem(last=False)
            self._fills.pop(forgotten, None)

    def _announce(self, state: OrderState) -> None:
        listener = self.listener
        if listener is not None:
            listener(state)


def _stale(state: OrderState, known: OrderState) -> bool:
    """An open order's push older than what we already know (a reply or a later push got here first);
    a final state always stands (a busted fill lowers the filled quantity)."""
    return state.status.is_open and (state.filled_qty < known.filled_qty or not known.status.is_open)


def with_fee(state: OrderState, fees: dict[str, Decimal]) -> OrderState:
    fee = fees.get(state.broker_order_id)
    return state if fee is None else replace(state, fee=fee)


@functools.cache
def _handler_classes() -> tuple[type, type]:
    sdk = futu()

    class OrderPushes(sdk.TradeOrderHandlerBase):  # type: ignore[misc, name-defined]
        def __init__(self, relay: PushRelay) -> None:
            super().__init__()
            self.relay = relay

        def on_recv_rsp(self, rsp_pb: Any) -> Any:
            ret, table = super().on_recv_rsp(rsp_pb)
            if ret == 0:
                self.relay.order_pushed(rsp_pb.s2c.header.accID, table.to_dict("records")[0])
            return ret, table

    class FillPushes(sdk.TradeDealHandlerBase):  # type: ignore[misc, name-defined]
        def __init__(self, relay: PushRelay) -> None:
            super().__init__()
            self.relay = relay

        def on_recv_rsp(self, rsp_pb: Any) -> Any:
            ret, table = super().on_recv_rsp(rsp_pb)
            if ret == 0:
                self.relay.fill_pushed(rsp_pb.s2c.header.accID, table.to_dict("records")[0])
            return ret, table

    return OrderPushes, FillPushes
