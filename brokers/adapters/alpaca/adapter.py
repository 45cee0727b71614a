"""`AlpacaAdapter`: one Alpaca account (paper or live) through alpaca-py's `TradingClient`
and `StockHistoricalDataClient`, kept on the instance so their sessions stay alive (pooled).

Alpaca-specific behaviour:

- `client_order_id` is unique per account for ever (canceled and filled orders included): a
  second POST with the same id is refused 422 "client_order_id must be unique", so a lost
  response is recovered with `GET /v2/orders:by_client_order_id` and nothing is placed twice.
- Take-profit/stop-loss are Alpaca's native order classes: `bracket` (both) or `oto` (one).
  The exit legs come back under their parent (`nested=true`) and are reported in
  `OrderState.legs` with their `role`. Once a bracket's entry has filled, Alpaca's open-orders
  query (nested) lists neither it nor its legs: `get_order` (of the parent or of a leg) finds them.
- Orders report cumulative `filled_qty`/`filled_avg_price` only; `fills` stays empty.
- US equities are commission-free at Alpaca, and it publishes no fee endpoint for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import ClassVar, cast

from alpaca.common.exceptions import APIError
from alpaca.trading.enums import AssetClass, AssetStatus, QueryOrderStatus
from alpaca.trading.models import Asset, Order, TradeAccount
from alpaca.trading.models import Position as AlpacaPosition
from alpaca.trading.requests import GetAssetsRequest, GetOrderByIdRequest, GetOrdersRequest

from brokers.adapters.alpaca import clients, payloads
from brokers.adapters.alpaca.errors import TRANSLATOR, is_duplicate_client_id
from brokers.adapters.alpaca.marketdata import latest_quotes
from brokers.adapters.base import (
    Account,
    AdapterContext,
    AuthenticationFailed,
    Balance,
    BrokerError,
    FeeSchedule,
    Instrument,
    InvalidSymbol,
    OrderRequest,
    OrderState,
    Position,
    Quote,
)
from brokers.adapters.registry import get_spec

MAX_ORDERS = 500  # Alpaca's page limit for GET /v2/orders
FEES = FeeSchedule(
    maker_pct=Decimal(0),
    taker_pct=Decimal(0),
    per_order=Decimal(0),
    currency="USD",
    note="Alpaca: US equities are commission-free. Regulatory fees on sells (SEC fee, FINRA TAF) are "
    "passed through by Alpaca and not included here; Alpaca has no fee-schedule endpoint for equities.",
)


class AlpacaAdapter:
    key: ClassVar[str] = "alpaca"

    def __init__(self, credentials: Mapping[str, str], *, paper: bool, context: AdapterContext) -> None:
        key_id, secret = credentials.get("api_key_id", "").strip(), credentials.get("api_secret_key", "").strip()
        if not (key_id and secret):
            raise AuthenticationFailed("Alpaca needs both the API key ID and the API secret key.")
        self.paper = paper
        budget = clients.call_budget(get_spec(self.key).capabilities.timeout_seconds)
        self._trading = clients.trading_client(key_id, secret, paper=paper, budget=budget)
        self._data = clients.data_client(key_id, secret, budget=budget)

    # -- account -----------------------------------------------------------------------------

    @TRANSLATOR.edge
    def connect(self) -> Account:
        account = cast(TradeAccount, self._trading.get_account())
        return Account(id=account.account_number, currency=account.currency or "USD", paper=self.paper)

    @TRANSLATOR.edge
    def balance(self) -> Balance:
        return payloads.balance(cast(TradeAccount, self._trading.get_account()))

    @TRANSLATOR.edge
    def positions(self) -> list[Position]:
        held = cast(list[AlpacaPosition], self._trading.get_all_positions())
        return [payloads.position(p) for p in held]

    # -- orders ------------------------------------------------------------------------------

    @TRANSLATOR.edge
    def place_order(self, request: OrderRequest) -> OrderState:
        """Submit; a repeated client id (an earlier try whose answer was lost) returns that order."""
        try:
            order = cast(Order, self._trading.submit_order(payloads.order_request(request)))
        except APIError as exc:
            found = self.find_order(request.client_order_id) if is_duplicate_client_id(exc) else None
            if found is None:
                raise
            return found
        return payloads.order_state(order)

    @TRANSLATOR.edge
    def cancel_order(self, broker_order_id: str) -> OrderState:
        """Ask Alpaca to cancel (204, done asynchronously), then report the order as it stands."""
        self._trading.cancel_order_by_id(payloads.order_uuid(broker_order_id))
        return self.get_order(broker_order_id)

    @TRANSLATOR.edge
    def get_order(self, broker_order_id: str) -> OrderState:
        nested = GetOrderByIdRequest(nested=True)
        order = cast(Order, self._trading.get_order_by_id(payloads.order_uuid(broker_order_id), nested))
        return payloads.order_state(order)

    @TRANSLATOR.edge
    def find_order(self, client_order_id: str) -> OrderState | None:
        """`GET /v2/orders:by_client_order_id`; None on 404. A bracket is re-read nested for its legs."""
        try:
            order = cast(Order, self._trading.get_order_by_client_id(client_order_id))
        except APIError as exc:
            if exc.status_code == 404:
                return None
            raise
        if order.legs is None and payloads.enum_value(order.order_class) not in ("", "simple"):
            return self.get_order(str(order.id))
        return payloads.order_state(order)

    @TRANSLATOR.edge
    def open_orders(self) -> list[OrderState]:
        """Open orders, newest first, then the working legs of open brackets on their own (as the
        paper broker lists held legs), so a poll finds them without asking for each leg."""
        states = self._orders(GetOrdersRequest(status=QueryOrderStatus.OPEN, nested=True, limit=MAX_ORDERS))
        return [*states, *(leg for state in states for leg in state.legs if leg.status.is_open)]

    @TRANSLATOR.edge
    def order_history(self, *, limit: int = 100) -> list[OrderState]:
        """Newest first, open and closed, at most 500 (one page)."""
        if limit <= 0:
            return []
        query = GetOrdersRequest(status=QueryOrderStatus.ALL, nested=True, limit=min(limit, MAX_ORDERS))
        return self._orders(query)

    def _orders(self, query: GetOrdersRequest) -> list[OrderState]:
        return [payloads.order_state(o) for o in cast(list[Order], self._trading.get_orders(query))]

    # -- market data and instruments ------------------------------------------------------------

    @TRANSLATOR.edge
    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        return latest_quotes(self._data, symbols)

    @TRANSLATOR.edge
    def instrument(self, symbol: str) -> Instrument:
        """The asset, with the sub-dollar tick when its latest quote is under $1 (cents otherwise)."""
        asset = cast(Asset, self._trading.get_asset(payloads.to_alpaca(symbol)))  # 404 40410000: InvalidSymbol
        if not asset.tradable or payloads.enum_value(asset.status) != "active":
            raise InvalidSymbol(f"{asset.symbol} is not tradable at Alpaca.")
        return payloads.instrument(asset, price=self._price(asset.symbol))

    def _price(self, symbol: str) -> Decimal | None:
        """Only the tick depends on it: without market data the instrument still stands."""
        try:
            quote = self.quotes([symbol]).get(symbol)
        except BrokerError:
            return None
        return quote.price if quote else None

    @TRANSLATOR.edge
    def instruments(self) -> list[Instrument]:
        """Every active, tradable US equity (ticks in cents: no prices are fetched for the list)."""
        query = GetAssetsRequest(status=AssetStatus.ACTIVE, asset_class=AssetClass.US_EQUITY)
        assets = cast(list[Asset], self._trading.get_all_assets(query))
        return [payloads.instrument(a) for a in assets if a.tradable and payloads.is_alpaca_symbol(a.symbol)]

    def fees(self) -> FeeSchedule:
        return FEES

    def close(self) -> None:
        clients.close(self._trading, self._data)
