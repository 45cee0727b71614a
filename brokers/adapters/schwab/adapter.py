"""`SchwabAdapter`: a Charles Schwab individual account through schwab-py (Trader API + Market Data API).

Pooled: one instance per connection per process keeps its OAuth session (and its keep-alive
connections). Every call first makes sure the access token is fresh (refreshing under the
connection's row lock, see `auth.TokenKeeper`); a 401 from Schwab refreshes once and retries,
since Schwab may end an access token before its 30 minutes.

Schwab has no client order id. When an order's answer is lost (timeout, dropped connection) the
platform marks it `unknown` and resolves it with `match_recent_order`, never by sending it again;
`find_order(client_order_id)` has nothing to search by and returns None.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import httpx
from schwab.client import Client

from brokers.adapters.base import (
    Account,
    AdapterContext,
    Balance,
    BrokerError,
    BrokerUnavailable,
    FeeSchedule,
    Instrument,
    InvalidSymbol,
    OrderNotFound,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
)
from brokers.adapters.registry import get_spec
from brokers.adapters.schwab import orders, payloads
from brokers.adapters.schwab.auth import TokenKeeper, client_build
from brokers.adapters.schwab.errors import TRANSLATOR, check

# Schwab lists orders entered in the last 60 days at most.
HISTORY = timedelta(days=60) - timedelta(minutes=5)
# Our clock and Schwab's may disagree a little about when an order was entered.
CLOCK_SKEW = timedelta(seconds=60)
QUOTE_BATCH = 100
FEE_PROBE = "SPY"  # a one-share buy of it is previewed for the fee schedule
# One call may refresh the token and retry after a 401: three requests within the capability's budget.
REQUESTS_PER_CALL = 3


class SchwabAdapter:
    """A Schwab brokerage account (the first linked to the app's authorisation), addressed by its hash.

    Credentials: `app_key`, `app_secret`, and `token` (stored once the user has authorised the app).
    Schwab has no paper trading: the account is always live.
    """

    key: ClassVar[str] = "schwab"

    def __init__(self, credentials: Mapping[str, str], *, paper: bool, context: AdapterContext) -> None:
        self._credentials = dict(credentials)
        self._context = context
        self._timeout = get_spec(self.key).capabilities.timeout_seconds / REQUESTS_PER_CALL
        self._client: Client | None = None
        self._keeper: TokenKeeper | None = None
        self._account_hash = ""

    # -- plumbing -----------------------------------------------------------------------------

    def _call(self, send: Callable[[Client], httpx.Response]) -> httpx.Response:
        """One Schwab call with a fresh token; a 401 gets one refresh and one retry (it was not acted on)."""
        if self._client is None or self._keeper is None:
            self._client, self._keeper = client_build(
                self._credentials, update=self._context.credentials_update, timeout=self._timeout
            )
        self._keeper.ensure_fresh()
        response = send(self._client)
        if response.status_code == 401:
            self._keeper.refresh()
            response = send(self._client)
        return response

    def _hash(self) -> str:
        if not self._account_hash:
            self._account_hash = self._first_account()["hashValue"]
        return self._account_hash

    def _first_account(self) -> dict[str, Any]:
        response = self._call(lambda c: c.get_account_numbers())
        check(response)
        accounts = payloads.body(response) or []
        if not accounts:
            raise BrokerError("This Schwab login has no brokerage account linked to the app.")
        return dict(accounts[0])

    def _account(self) -> dict[str, Any]:
        account = self._hash()
        response = self._call(lambda c: c.get_account(account, fields=[Client.Account.Fields.POSITIONS]))
        check(response)
        return dict(payloads.body(response))

    def _orders(self, start: datetime, *, limit: int | None = None) -> list[dict[str, Any]]:
        """The account's orders entered since `start`, newest first."""
        account, end = self._hash(), datetime.now(UTC) + CLOCK_SKEW
        response = self._call(
            lambda c: c.get_orders_for_account(
                account, max_results=limit, from_entered_datetime=start.astimezone(UTC), to_entered_datetime=end
            )
        )
        check(response)
        found = list(payloads.body(response) or [])
        found.sort(key=lambda o: (payloads.parse_time(o.get("enteredTime")) or end, o.get("orderId", 0)), reverse=True)
        return found

    # -- account ------------------------------------------------------------------------------

    @TRANSLATOR.edge
    def connect(self) -> Account:
        """Authenticate (refreshing the token if due) and find the account; its id is Schwab's account hash."""
        self._account_hash = self._first_account()["hashValue"]
        return Account(id=self._account_hash, currency="USD", paper=False)

    @TRANSLATOR.edge
    def balance(self) -> Balance:
        return payloads.balance(self._account(), as_of=datetime.now(UTC))

    @TRANSLATOR.edge
    def positions(self) -> list[Position]:
        """Stock and ETF positions; other asset classes are left out."""
        return payloads.positions(self._account())

    # -- orders -------------------------------------------------------------------------------

    @TRANSLATOR.edge
    def place_order(self, request: OrderRequest) -> OrderState:
        """Send once; the new order's id comes from the `Location` header of Schwab's empty 201.

        A timeout or a dropped answer raises BrokerUnavailable: the order may exist, and the
        platform must resolve it with `match_recent_order`, not by sending it again.
        """
        spec = orders.order_spec(request)  # shape problems are refused before anything is sent
        account, sent_at = self._hash(), datetime.now(UTC)
        response = self._call(lambda c: c.place_order(account, spec))
        check(response, order=True)
        order_id = orders.order_id_from_location(response.headers.get("Location"))
        if order_id is None:  # accepted, but Schwab did not say as what: find it as after a lost answer
            found = self.match_recent_order(request, sent_at)
            if found is None:
                raise BrokerUnavailable("Schwab accepted the order without naming it; its outcome is not known yet.")
            return found
        return self._state_after(order_id, request)

    def _state_after(self, order_id: str, request: OrderRequest) -> OrderState:
        """The order's state as Schwab reports it now; the bare facts if that read fails (it IS placed)."""
        try:
            return self.get_order(order_id)
        except BrokerError:
            submitted = OrderStatus.SUBMITTED
            return OrderState(order_id, "", request.symbol, request.side, request.type, request.qty, submitted)

    @TRANSLATOR.edge
    def match_recent_order(
        self, request: OrderRequest, since: datetime, *, exclude: Collection[str] = ()
    ) -> OrderState | None:
        """The order `request` became at Schwab, found among those entered after `since`, or None.

        How a lost answer is resolved (Schwab has no client order id): the account's orders entered
        since `since` (less a minute of clock skew) that match the request exactly — symbol,
        instruction, quantity, type, prices, duration and, for a bracket, its exit legs — and
        whose ids are not in `exclude` (ids already claimed by our other orders). The oldest match
        wins: it is the first order of that shape entered after we sent. None means it was not
        placed; then (and only then) may it be sent again.
        """
        start = since - CLOCK_SKEW
        candidates = [
            order
            for order in self._orders(start)
            if str(order.get("orderId")) not in exclude and orders.same_order(request, order)
        ]
        return orders.order_state(candidates[-1]) if candidates else None

    @TRANSLATOR.edge
    def cancel_order(self, broker_order_id: str) -> OrderState:
        """Cancel (a bracket's pending exits go with it); OrderNotFound if unknown, OrderRejected if closed."""
        account = self._hash()
        response = self._call(lambda c: c.cancel_order(broker_order_id, account))
        check(response, order=True, not_found=OrderNotFound)
        return self.get_order(broker_order_id)

    @TRANSLATOR.edge
    def get_order(self, broker_order_id: str) -> OrderState:
        if not broker_order_id.isdigit():
            raise OrderNotFound(f"Schwab order ids are numbers; {broker_order_id!r} is not one.")
        account = self._hash()
        response = self._call(lambda c: c.get_order(broker_order_id, account))
        check(response, not_found=OrderNotFound)
        return orders.order_state(payloads.body(response))

    def find_order(self, client_order_id: str) -> OrderState | None:
        """Always None: Schwab keeps no client order id. Lost answers are resolved by `match_recent_order`."""
        return None

    @TRANSLATOR.edge
    def open_orders(self) -> list[OrderState]:
        """Open orders entered in the last 60 days (all Schwab can list), newest first."""
        states = [orders.order_state(o) for o in self._orders(datetime.now(UTC) - HISTORY)]
        return [state for state in states if state.status.is_open]

    @TRANSLATOR.edge
    def order_history(self, *, limit: int = 100) -> list[OrderState]:
        """Orders entered in the last 60 days, newest first."""
        if limit <= 0:
            return []
        return [orders.order_state(o) for o in self._orders(datetime.now(UTC) - HISTORY, limit=limit)][:limit]

    # -- market data --------------------------------------------------------------------------

    @TRANSLATOR.edge
    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Quotes in batches of 100; symbols Schwab lists under `errors.invalidSymbols` are left out."""
        wanted: dict[str, str] = {}
        for symbol in symbols:
            try:
                wanted[payloads.schwab_symbol(symbol)] = symbol
            except InvalidSymbol:
                continue
        found: dict[str, Quote] = {}
        names = sorted(wanted)
        for start in range(0, len(names), QUOTE_BATCH):
            found |= self._quote_batch(names[start : start + QUOTE_BATCH], wanted)
        return found

    def _quote_batch(self, names: list[str], wanted: dict[str, str]) -> dict[str, Quote]:
        response = self._call(lambda c: c.get_quotes(names, fields=[Client.Quote.Fields.QUOTE]))
        check(response)
        data, now = payloads.body(response) or {}, datetime.now(UTC)
        quotes = {}
        for name in names:
            item = data.get(name)
            quote = payloads.quote(wanted[name], item, now=now) if isinstance(item, dict) else None
            if quote is not None:
                quotes[wanted[name]] = quote
        return quotes

    @TRANSLATOR.edge
    def instrument(self, symbol: str) -> Instrument:
        name = payloads.schwab_symbol(symbol)
        response = self._call(lambda c: c.get_instruments([name], Client.Instrument.Projection.SYMBOL_SEARCH))
        check(response)
        for item in (payloads.body(response) or {}).get("instruments") or []:
            if str(item.get("symbol", "")).upper() == name:
                return payloads.instrument(name, item)
        raise InvalidSymbol(f"Schwab does not list {symbol!r}.")

    def instruments(self) -> list[Instrument]:
        """Schwab's instrument search cannot list everything it trades: []."""
        return []

    @TRANSLATOR.edge
    def fees(self) -> FeeSchedule:
        """Commission and fees of a one-share market buy, as Schwab's `previewOrder` prices it."""
        probe = OrderRequest("fee-probe", FEE_PROBE, Side.BUY, OrderType.MARKET, Decimal(1))
        account, spec = self._hash(), orders.order_spec(probe)
        response = self._call(lambda c: c.preview_order(account, spec))
        check(response, order=True)
        return payloads.fee_schedule(payloads.body(response))

    def close(self) -> None:
        if self._client is not None:
            self._client.session.close()
        self._client = self._keeper = None
