"""`MoomooAdapter`: a moomoo account through the user's OpenD gateway, with futu-api.

One trade context and one quote context per adapter instance (the gateway worker keeps one instance
per connection), opened on first use within a deadline and rebuilt after a drop. Paper connections use
the account's simulate environment (`TrdEnv.SIMULATE`, no unlock); live ones unlock the real account
with the trade password. Order ids are OpenD's string `orderIDEx`; our client order id travels in the
order's `remark`, which is how `find_order` recovers an order whose answer was lost.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from brokers.adapters.base import (
    Account,
    AdapterContext,
    AuthenticationFailed,
    Balance,
    FeeSchedule,
    Instrument,
    InvalidSymbol,
    OrderListener,
    OrderNotFound,
    OrderRequest,
    OrderState,
    Position,
    Quote,
)
from brokers.adapters.moomoo import payloads
from brokers.adapters.moomoo.errors import TRANSLATOR, OpenDFailure, OrderCallFailure
from brokers.adapters.moomoo.gateway import CONNECT_SECONDS, Gateway, settings_from
from brokers.adapters.moomoo.pushes import PushRelay, with_fee

logger = logging.getLogger(__name__)

SNAPSHOT_BATCH = 400  # codes per get_market_snapshot call


class MoomooAdapter:
    key: ClassVar[str] = "moomoo"
    connect_seconds: ClassVar[float] = CONNECT_SECONDS

    def __init__(self, credentials: Mapping[str, str], *, paper: bool, context: AdapterContext) -> None:
        self.paper = paper
        self._invalid: AuthenticationFailed | None = None
        try:
            settings = settings_from(credentials, paper=paper)
        except AuthenticationFailed as exc:  # reported by the first call, like any refusal
            self._invalid, settings = exc, settings_from({}, paper=paper)
        self.market = settings.market
        self._gateway = Gateway(settings, on_trade_context=self._prepare, connect_seconds=self.connect_seconds)
        self._relay = PushRelay(self.market, account=lambda: self._gateway.acc_id, fetch=self.get_order)

    # -- session ------------------------------------------------------------------------------

    @TRANSLATOR.edge
    def connect(self) -> Account:
        """Open both contexts (unlocking a real account) and name the account futu lists for the market."""
        gateway = self._checked()
        gateway.trade()
        gateway.quote()
        return Account(id=str(gateway.acc_id), currency=self.market.currency, paper=self.paper)

    @TRANSLATOR.edge
    def heartbeat(self) -> None:
        """A round trip to OpenD (reconnecting if it had dropped); BrokerUnavailable while it is gone."""
        self._checked().call("trade", "get_acc_list")

    @TRANSLATOR.edge
    def subscribe(self, listener: OrderListener) -> None:
        """Order and fill pushes reach `listener` as OrderStates (fills keyed by deal id, each once)."""
        self._relay.listener = listener
        self._checked().trade()

    def close(self) -> None:
        self._gateway.close()

    # -- account ------------------------------------------------------------------------------

    @TRANSLATOR.edge
    def balance(self) -> Balance:
        """Figures in the account's currency (HKD for HK accounts), as OpenD converts them."""
        row = self._query("accinfo_query", currency=self.market.currency)[0]
        return payloads.balance(row, self.market, datetime.now(UTC))

    @TRANSLATOR.edge
    def positions(self) -> list[Position]:
        rows = self._query("position_list_query", position_market=self.market.name)
        prefix = f"{self.market.name}."
        return [payloads.position(r) for r in rows if str(r["code"]).startswith(prefix) and payloads.amount(r["qty"])]

    # -- orders -------------------------------------------------------------------------------

    @TRANSLATOR.edge
    def place_order(self, request: OrderRequest) -> OrderState:
        """Sent once: a lost answer is recovered by `find_order` (the remark), never by sending again."""
        kwargs = payloads.order_kwargs(request, self.market)
        table = self._checked().call("trade", "place_order", account=True, failure=OrderCallFailure, **kwargs)
        row = table.to_dict("records")[0]
        return self._relay.remember(payloads.placed_state(request, str(row["order_id"]), row, self.market))

    @TRANSLATOR.edge
    def cancel_order(self, broker_order_id: str) -> OrderState:
        self._checked().call(
            "trade", "modify_order", "CANCEL", broker_order_id, 0, 0, account=True, failure=OrderCallFailure
        )
        return self._order(broker_order_id)

    @TRANSLATOR.edge
    def get_order(self, broker_order_id: str) -> OrderState:
        return self._order(broker_order_id)

    @TRANSLATOR.edge
    def find_order(self, client_order_id: str) -> OrderState | None:
        """The order whose remark is `client_order_id`: today's orders first, then the history."""
        for method in ("order_list_query", "history_order_list_query"):
            rows = [r for r in self._query(method) if r.get("remark") == client_order_id]
            if rows:
                newest = max(rows, key=lambda r: str(r.get("create_time")))
                return self._finished([self._state(newest)])[0]
        return None

    @TRANSLATOR.edge
    def open_orders(self) -> list[OrderState]:
        states = [self._state(r) for r in _newest_first(self._query("order_list_query"))]
        return self._finished([s for s in states if s.status.is_open])

    @TRANSLATOR.edge
    def order_history(self, *, limit: int = 100) -> list[OrderState]:
        """Today's orders and the last 90 days' (futu's history window), newest first."""
        rows = {str(r["order_id"]): r for r in self._query("history_order_list_query")}
        rows.update((str(r["order_id"]), r) for r in self._query("order_list_query"))
        chosen = _newest_first(list(rows.values()))[: max(limit, 0)]
        return self._finished([self._state(r) for r in chosen])

    # -- market data ------------------------------------------------------------------------------

    @TRANSLATOR.edge
    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Snapshots, up to 400 codes a call; unknown symbols are left out."""
        codes: dict[str, str] = {}
        for symbol in symbols:
            try:
                codes[payloads.to_code(symbol, self.market)] = symbol
            except InvalidSymbol:
                continue
        found: dict[str, Quote] = {}
        wanted = list(codes)
        for start in range(0, len(wanted), SNAPSHOT_BATCH):
            for row in self._snapshots(wanted[start : start + SNAPSHOT_BATCH]):
                symbol = codes[str(row["code"])]
                found[symbol] = payloads.quote({**row, "code": f"{self.market.name}.{symbol}"}, self.market)
        return found

    @TRANSLATOR.edge
    def instrument(self, symbol: str) -> Instrument:
        """From OpenD's static info (lot size); the tick from HKEX's spread table at the last price, or a cent."""
        code = payloads.to_code(symbol, self.market)
        rows = self._checked().call("quote", "get_stock_basicinfo", self.market.name, "STOCK", [code])
        rows = rows.to_dict("records")
        if not rows:
            raise InvalidSymbol(f"Moomoo lists no {code}.")
        price = None
        if self.market.name == "HK":
            snapshot = self._snapshots([code])
            price = payloads.number(snapshot[0]["last_price"], None) if snapshot else None
        return payloads.instrument({**rows[0], "code": code}, self.market, price)

    @TRANSLATOR.edge
    def instruments(self) -> list[Instrument]:
        """US stocks from OpenD's static info; [] for HK, whose tick depends on each stock's price."""
        if self.market.name != "US":
            return []
        table = self._checked().call("quote", "get_stock_basicinfo", self.market.name, "STOCK")
        return [payloads.instrument(row, self.market, None) for row in table.to_dict("records")]

    def fees(self) -> FeeSchedule:
        return payloads.FEES[self.market.name]

    # -- helpers -----------------------------------------------------------------------------------

    def _checked(self) -> Gateway:
        if self._invalid is not None:
            raise self._invalid
        return self._gateway

    def _prepare(self, ctx: Any) -> None:
        for handler in self._relay.handlers():
            ctx.set_handler(handler)

    def _query(self, method: str, **kwargs: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._checked().call("trade", method, account=True, **kwargs).to_dict("records")
        return rows

    def _state(self, row: Mapping[str, Any]) -> OrderState:
        return self._relay.remember(payloads.order_state(row, self.market))

    def _order(self, broker_order_id: str) -> OrderState:
        rows = self._query("order_list_query", order_id=broker_order_id)
        if not rows:
            rows = [r for r in self._query("history_order_list_query") if str(r["order_id"]) == broker_order_id]
        if not rows:
            raise OrderNotFound(f"Moomoo has no order {broker_order_id}.")
        return self._finished([self._state(rows[0])])[0]

    def _finished(self, states: list[OrderState]) -> list[OrderState]:
        """States with their fees, from OpenD's order fee query (for orders that traded)."""
        traded = [s.broker_order_id for s in states if s.filled_qty > 0]
        if not traded:
            return states
        try:
            rows = self._query("order_fee_query", order_id_list=traded)
        except OpenDFailure as exc:  # the fee is a detail: the states stand without it
            logger.info("moomoo: order fees unavailable: %s", exc)
            return states
        fees = {str(r["order_id"]): payloads.amount(r["fee_amount"]) for r in rows}
        return [with_fee(state, fees) for state in states]

    def _snapshots(self, codes: list[str]) -> list[dict[str, Any]]:
        """Snapshot rows; OpenD fails a whole batch over one unknown code, so those it names are dropped."""
        try:
            rows: list[dict[str, Any]] = self._checked().call("quote", "get_market_snapshot", codes).to_dict("records")
            return rows
        except OpenDFailure as exc:
            if not isinstance(TRANSLATOR.error(exc), InvalidSymbol):
                raise
            named = [code for code in codes if re.search(rf"{re.escape(code)}(?![\w.])", str(exc))]
            rest = [code for code in codes if code not in named]
            if not named:  # OpenD did not say which: ask one by one
                return [] if len(codes) == 1 else [row for code in codes for row in self._snapshots([code])]
            return self._snapshots(rest) if rest else []


def _newest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: str(r.get("create_time")), reverse=True)
