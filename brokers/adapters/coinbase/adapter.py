"""`CoinbaseAdapter`: a Coinbase Advanced Trade portfolio over ccxt's `coinbase` class.

The adapter is pooled: one ccxt client (one HTTP session, one loaded product list) per connection
per process. Orders, fills and quotes go through ccxt's implicit v3 endpoint methods and are read
from Coinbase's own decimal strings; balances go through ccxt's `fetch_balance` (v3 accounts).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from django.utils import timezone

from brokers.adapters.base import (
    Account,
    AdapterContext,
    AuthenticationFailed,
    Balance,
    BrokerError,
    FeeSchedule,
    Instrument,
    InvalidSymbol,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderStatus,
    Position,
    Quote,
    TemporaryBrokerError,
)
from brokers.adapters.coinbase import auth, orders, payloads
from brokers.adapters.coinbase.errors import TRANSLATOR

if TYPE_CHECKING:
    import ccxt

MARKETS_TTL = 3600.0  # seconds a loaded product list is trusted (increments rarely change)
FIND_PAGE_SIZE = 1000  # List Orders' largest page
FIND_PAGES = 2  # a lost answer is recent: the last 2,000 orders are searched for its client id
OPEN_PAGE_SIZE, OPEN_PAGES = 100, 10
FILL_PAGE_SIZE, FILL_PAGES = 250, 5
NO_PAPER = "Coinbase has no paper trading: connect it as a live account."
NOT_CANCELABLE = ("UNKNOWN_CANCEL_ORDER", "INVALID_CANCEL_REQUEST")

Raw = Mapping[str, Any]


class CoinbaseAdapter:
    """One CDP API key's portfolio (CDP keys are scoped to a single portfolio)."""

    key: ClassVar[str] = "coinbase"

    def __init__(self, credentials: Mapping[str, str], *, paper: bool, context: AdapterContext) -> None:
        self._credentials = dict(credentials)
        self._paper = paper
        self._client: ccxt.coinbase | None = None
        self._markets_at = 0.0
        self._portfolio: tuple[str, str] | None = None  # (uuid, currency)

    # -- plumbing --------------------------------------------------------------------------

    @property
    def _ex(self) -> ccxt.coinbase:
        if self._client is None:
            self._client = auth.exchange(*auth.credentials_check(self._credentials))
        return self._client

    def _portfolio_info(self, *, refresh: bool = False) -> tuple[str, str]:
        """(uuid, currency) of the key's portfolio; the currency is what its breakdown is valued in."""
        if self._portfolio is None or refresh:
            listed = [
                p for p in self._ex.v3PrivateGetBrokeragePortfolios().get("portfolios") or [] if not p.get("deleted")
            ]
            if not listed:
                raise AuthenticationFailed("This Coinbase API key has no portfolio it may view.")
            chosen = next((p for p in listed if p.get("type") == "DEFAULT"), listed[0])
            breakdown = self._breakdown(str(chosen["uuid"]))
            self._portfolio = (str(chosen["uuid"]), payloads.portfolio_currency(breakdown))
        return self._portfolio

    def _breakdown(self, uuid: str) -> Raw:
        return self._ex.v3PrivateGetBrokeragePortfoliosPortfolioUuid({"portfolio_uuid": uuid})

    def _markets(self) -> dict[str, Raw]:
        """Spot products by product id, from ccxt's loaded markets (reloaded hourly)."""
        stale = time.monotonic() - self._markets_at > MARKETS_TTL
        if not self._ex.markets or stale:
            self._ex.load_markets(reload=bool(self._ex.markets))
            self._markets_at = time.monotonic()
        return {m["id"]: m["info"] for m in self._ex.markets.values() if m.get("spot")}

    def _product(self, symbol: str) -> Raw:
        info = self._markets().get(payloads.product_id(symbol))
        if info is None or not payloads.is_tradable(info):
            raise InvalidSymbol(f"Coinbase does not trade {symbol.strip().upper()}.")
        return info

    def _holdings(self) -> dict[str, payloads.Holding]:
        balances = self._ex.fetch_balance()  # v3 brokerage/accounts, every page
        return payloads.holdings(balances["info"].get("accounts") or [])

    def _prices(self, currencies: Iterable[str], quote: str) -> dict[str, Decimal]:
        """Last prices of `currencies` in `quote`, one batched products call; unlisted pairs left out."""
        markets = self._markets()
        ids = [f"{c}-{quote}" for c in currencies if f"{c}-{quote}" in markets]
        if not ids:
            return {}
        products = self._ex.v3PublicGetBrokerageMarketProducts({"product_ids": ids}).get("products") or []
        return {str(p["base_currency_id"]): payloads.dec(p.get("price")) for p in products}

    # -- account ---------------------------------------------------------------------------

    @TRANSLATOR.edge
    def connect(self) -> Account:
        """Authenticate (a signed call) and name the portfolio: its uuid and valuation currency."""
        if self._paper:
            raise BrokerError(NO_PAPER)
        uuid, currency = self._portfolio_info(refresh=True)
        return Account(id=uuid, currency=currency, paper=False)

    @TRANSLATOR.edge
    def balance(self) -> Balance:
        """Cash = the currency's wallet (holds included), buying power = its available part, equity
        = cash + crypto valued at last prices."""
        currency = self._portfolio_info()[1]
        held = self._holdings()
        prices = self._prices((c for c, h in held.items() if c != currency), currency)
        return payloads.balance(held, prices, currency=currency, now=timezone.now())

    @TRANSLATOR.edge
    def positions(self) -> list[Position]:
        """Crypto holdings valued at last prices, with the breakdown's average entry price."""
        uuid, currency = self._portfolio_info()
        crypto = {c: h for c, h in self._holdings().items() if not h.cash and c != currency}
        prices = self._prices(crypto, currency)
        if not prices:
            return []
        averages = payloads.average_entry_prices(self._breakdown(uuid), currency=currency)
        return [payloads.position(crypto[c], prices[c], averages.get(c), currency=currency) for c in sorted(prices)]

    # -- orders ----------------------------------------------------------------------------

    @TRANSLATOR.edge
    def place_order(self, request: OrderRequest) -> OrderState:
        """Create the order; a repeated client order id gets the first order back (Coinbase's dedup)."""
        info = self._product(request.symbol)
        body = orders.create_body(request, str(info["product_id"]), now=timezone.now())
        answer = self._ex.v3PrivatePostBrokerageOrders(body)
        order_id = str((answer.get("success_response") or {}).get("order_id") or "")
        if not answer.get("success") or not order_id:
            raise OrderRejected(f"Coinbase did not accept the order ({answer.get('failure_reason') or 'no reason'}).")
        try:
            return self.get_order(order_id)
        except TemporaryBrokerError:  # accepted; its state is polled later
            return orders.submitted(request, order_id)

    @TRANSLATOR.edge
    def cancel_order(self, broker_order_id: str) -> OrderState:
        """Cancel (batch_cancel of one); OrderNotFound if unknown, OrderRejected if already filled."""
        answer = self._ex.v3PrivatePostBrokerageOrdersBatchCancel({"order_ids": [broker_order_id]})
        result = next(iter(answer.get("results") or []), {})
        if not result.get("success") and result.get("failure_reason") in NOT_CANCELABLE:
            raise OrderNotFound(f"Coinbase has no order {broker_order_id}.")
        state = self.get_order(broker_order_id)
        if state.status == OrderStatus.FILLED:
            raise OrderRejected("already filled")
        return state

    @TRANSLATOR.edge
    def get_order(self, broker_order_id: str) -> OrderState:
        """One order with its fills, and a bracket's legs; a bracket's exit order is reported as its entry with legs."""
        order = self._ex.v3PrivateGetBrokerageOrdersHistoricalOrderId({"order_id": broker_order_id})["order"]
        if order.get("originating_order_id"):
            params = {"order_id": order["originating_order_id"]}
            order = self._ex.v3PrivateGetBrokerageOrdersHistoricalOrderId(params)["order"]
        return self._states([order])[0]

    @TRANSLATOR.edge
    def find_order(self, client_order_id: str) -> OrderState | None:
        """The order placed under this client id (or a bracket leg, `<id>:tp` / `<id>:sl`), or None.

        Coinbase keeps client ids unique (a repeat returns the first order) but cannot be asked by
        one, so the most recent orders are searched.
        """
        parent_id, role = orders.leg_client_id(client_order_id)
        found = self._find_raw(parent_id)
        if found is None:
            return None
        state = self._states([found])[0]
        return next((leg for leg in state.legs if leg.role == role), None) if role else state

    @TRANSLATOR.edge
    def open_orders(self) -> list[OrderState]:
        """Open orders, newest first; a bracket whose exit is open is reported as its parent with legs."""
        listed = self._list_orders({"order_status": "OPEN", "limit": OPEN_PAGE_SIZE}, pages=OPEN_PAGES)
        parents = [o for o in listed if not o.get("originating_order_id")]
        known = {o["order_id"] for o in parents}
        orphans = {str(o["originating_order_id"]) for o in listed if o.get("originating_order_id")} - known
        return self._states([*parents, *self._orders_by_id(orphans)], known=listed)

    @TRANSLATOR.edge
    def order_history(self, *, limit: int = 100) -> list[OrderState]:
        """Every order, open or closed, newest first (bracket exits inside their parents' legs)."""
        listed = self._list_orders({"limit": max(min(limit, FIND_PAGE_SIZE), 1)})
        parents = [o for o in listed if not o.get("originating_order_id")]
        return self._states(parents[: max(limit, 0)], known=listed)

    def _pages(self, query: dict[str, Any], pages: int) -> Iterator[list[Raw]]:
        """List Orders, page after page (newest first), following Coinbase's cursor."""
        query = dict(query)
        for _ in range(pages):
            page = self._ex.v3PrivateGetBrokerageOrdersHistoricalBatch(query)
            yield list(page.get("orders") or [])
            if not page.get("has_next") or not page.get("cursor"):
                return
            query["cursor"] = page["cursor"]

    def _list_orders(self, query: dict[str, Any], *, pages: int = 1) -> list[Raw]:
        return [o for page in self._pages(query, pages) for o in page]

    def _orders_by_id(self, ids: Iterable[str]) -> list[Raw]:
        wanted = sorted(set(ids))
        return self._list_orders({"order_ids": wanted, "limit": len(wanted)}) if wanted else []

    def _find_raw(self, client_order_id: str) -> Raw | None:
        for page in self._pages({"limit": FIND_PAGE_SIZE}, FIND_PAGES):
            found = next((o for o in page if o.get("client_order_id") == client_order_id), None)
            if found is not None:
                return found
        return None

    def _fills(self, listed: Iterable[Raw]) -> list[Raw]:
        """List Fills for the orders that have any, every page (executions keyed by trade_id)."""
        ids = sorted({str(o["order_id"]) for o in listed if int(o.get("number_of_fills") or 0) > 0})
        fills: list[Raw] = []
        query: dict[str, Any] = {"order_ids": ids, "limit": FILL_PAGE_SIZE}
        for _ in range(FILL_PAGES if ids else 0):
            page = self._ex.v3PrivateGetBrokerageOrdersHistoricalFills(query)
            fills.extend(page.get("fills") or [])
            if not page.get("cursor"):
                break
            query["cursor"] = page["cursor"]
        return fills

    def _states(self, parents: Sequence[Raw], *, known: Iterable[Raw] = ()) -> list[OrderState]:
        """States of `parents`, each with its fills and, for a bracket, its attached exit as legs."""
        by_id = {str(o["order_id"]): o for o in [*known, *parents]}
        missing = {str(p["attached_order_id"]) for p in parents if p.get("attached_order_id")} - by_id.keys()
        by_id.update((str(o["order_id"]), o) for o in self._orders_by_id(missing))
        attached = [by_id[p["attached_order_id"]] for p in parents if p.get("attached_order_id") in by_id]
        fills = self._fills([*parents, *attached])
        states = []
        for parent in parents:
            state = orders.order_state(parent, fills)
            child = by_id.get(str(parent.get("attached_order_id") or ""))
            states.append(replace(state, legs=orders.legs(state, child, fills)) if child else state)
        return states

    # -- market ----------------------------------------------------------------------------

    @TRANSLATOR.edge
    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Last price, 24h change and volume (one products call) with the best bid/ask (one call)."""
        markets, wanted = self._markets(), []
        for symbol in symbols:
            try:
                wanted.append(payloads.product_id(symbol))
            except InvalidSymbol:
                continue
        ids = sorted({pid for pid in wanted if pid in markets})
        if not ids:
            return {}
        products = self._ex.v3PublicGetBrokerageMarketProducts({"product_ids": ids}).get("products") or []
        books = self._ex.v3PrivateGetBrokerageBestBidAsk({"product_ids": ids}).get("pricebooks") or []
        by_id = {str(b.get("product_id")): b for b in books}
        now = timezone.now()
        found = [payloads.quote(p, by_id.get(p["product_id"]), now=now) for p in products if p.get("product_id") in ids]
        return {q.symbol: q for q in found}

    @TRANSLATOR.edge
    def instrument(self, symbol: str) -> Instrument:
        return payloads.instrument(self._product(symbol))

    @TRANSLATOR.edge
    def instruments(self) -> list[Instrument]:
        products = sorted(self._markets().items())
        return [payloads.instrument(info) for _, info in products if payloads.is_tradable(info)]

    def validate_symbol(self, symbol: str) -> str:
        """The canonical symbol (`BTC/USD`) of a product Coinbase trades; raises InvalidSymbol."""
        return self.instrument(symbol).symbol

    @TRANSLATOR.edge
    def fees(self) -> FeeSchedule:
        """The key's fee tier from the transaction summary (maker/taker, percent units)."""
        summary = self._ex.v3PrivateGetBrokerageTransactionSummary({"product_type": "SPOT"})
        return payloads.fee_schedule(summary, currency=self._portfolio_info()[1])

    def close(self) -> None:
        """Release the HTTP session."""
        if self._client is not None:
            self._client.close()
            self._client = None
