"""`KrakenAdapter`: a Kraken spot account through ccxt's `kraken` (sync).

What each call costs on Kraken's per-key counter (Starter: 15, -0.33/s): one point for most calls;
`place_order` and `cancel_order` add a QueryOrders (AddOrder/CancelOrder count on the matching
engine's per-pair counter instead); `positions` adds TradesHistory (2 points); an order list with a
multi-trade order adds one QueryTrades per 20 trades; `find_order` asks OpenOrders then ClosedOrders.
The session charges each request to the shared limiter as it is sent (`meter`, client.py).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar

import ccxt

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
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderStatus,
    Position,
    Quote,
    RateLimited,
)
from brokers.adapters.capabilities import Meter
from brokers.adapters.kraken import payloads
from brokers.adapters.kraken.client import TRANSLATOR, KrakenClient, timeout_seconds

P = ParamSpec("P")
R = TypeVar("R")
PAGE = 50  # ClosedOrders answers 50 orders a page


def timed(method: Callable[Concatenate[KrakenAdapter, P], R]) -> Callable[Concatenate[KrakenAdapter, P], R]:
    """The whole call, every request in it, within the broker's timeout."""

    @functools.wraps(method)
    def wrapper(self: KrakenAdapter, *args: P.args, **kwargs: P.kwargs) -> R:
        self.client.begin()
        return method(self, *args, **kwargs)

    return wrapper


class KrakenAdapter:
    """One Kraken API key's account. Kraken has no paper environment: `paper=True` is refused."""

    key: ClassVar[str] = "kraken"

    def __init__(self, credentials: Mapping[str, str], *, paper: bool, context: AdapterContext) -> None:
        self.paper = paper
        self._account_id = "kraken-" + hashlib.sha256(credentials.get("api_key", "").encode()).hexdigest()[:12]
        self.client = KrakenClient(
            timeout=timeout_seconds(), api_key=credentials.get("api_key", ""), secret=credentials.get("api_secret", "")
        )

    @property
    def meter(self) -> Meter | None:
        """Where each request is charged (set by the session for each call: Kraken counts requests)."""
        return self.client.exchange.meter

    @meter.setter
    def meter(self, value: Meter | None) -> None:
        self.client.exchange.meter = value

    # -- account ---------------------------------------------------------------------------

    @TRANSLATOR.edge
    @timed
    def connect(self) -> Account:
        """Authenticates with BalanceEx; the currency is the fiat the account holds most of (USD if none)."""
        if self.paper:
            raise BrokerError("Kraken has no paper-trading environment: connect the account as live.")
        return Account(id=self._account_id, currency=payloads.account_currency(self._balances()), paper=False)

    @TRANSLATOR.edge
    @timed
    def balance(self) -> Balance:
        """Cash = the account currency's balance; buying power = what open orders do not hold of it;
        equity = cash + each holding at its last price in that currency (holdings Kraken does not
        quote in it are left out)."""
        held = self._balances()
        currency = payloads.account_currency(held)
        cash, hold = held.get(currency, (Decimal(0), Decimal(0)))
        values = (p.market_value for p in self._positions(held, currency, with_costs=False))
        equity = (cash + sum(values, Decimal(0))).quantize(payloads.CENT)
        return Balance(currency=currency, cash=cash, equity=equity, buying_power=cash - hold, as_of=datetime.now(UTC))

    @TRANSLATOR.edge
    @timed
    def positions(self) -> list[Position]:
        """Every non-cash holding quoted in the account currency. The average price is the average
        cost of the last 50 trades (TradesHistory's first page); the market price when none explain it."""
        held = self._balances()
        return self._positions(held, payloads.account_currency(held), with_costs=True)

    def _balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        raw = self.client.call("fetch_balance")["info"].get("result") or {}
        return payloads.balances(raw, self.client.exchange.safe_currency_code)

    def _positions(
        self, held: Mapping[str, tuple[Decimal, Decimal]], currency: str, *, with_costs: bool
    ) -> list[Position]:
        markets = self.client.markets()
        symbols = [f"{code}/{currency}" for code, (qty, _) in held.items() if qty > 0 and code != currency]
        quotes = self._quotes([s for s in symbols if s in markets])
        trades = self.client.call("fetch_my_trades") if with_costs and quotes else []
        return [
            payloads.position(
                symbol, held[symbol.split("/")[0]][0], quote.price, [t for t in trades if t["symbol"] == symbol]
            )
            for symbol, quote in sorted(quotes.items())
        ]

    # -- orders ------------------------------------------------------------------------------

    @TRANSLATOR.edge
    @timed
    def place_order(self, request: OrderRequest) -> OrderState:
        """AddOrder with `cl_ord_id`, then QueryOrders for its state (a market order comes back filled).

        Kraken refuses a `cl_ord_id` only while an order with it is open: a refusal as duplicate means
        our earlier attempt is on the book, and that order is returned.
        """
        market = payloads.market_for(self.client.markets(), request.symbol)
        kind, side, amount, price, params = payloads.order_args(request, market)
        try:
            created = self.client.call("create_order", market["symbol"], kind, side, amount, price, params)
        except ccxt.ExchangeError as exc:
            found = self._find(request.client_order_id) if "Duplicate" in str(exc) else None
            if found is None:
                raise
            return found
        try:
            return self._order(created["id"], client_order_id=request.client_order_id)
        except (ccxt.NetworkError, BrokerUnavailable, RateLimited):
            # The order is in; only its state is late (or our limiter holds its read back). The next poll brings it.
            return _submitted(request, created["id"])

    @TRANSLATOR.edge
    @timed
    def cancel_order(self, broker_order_id: str) -> OrderState:
        """CancelOrder, then the order's state; an order no longer open is OrderRejected (or OrderNotFound)."""
        try:
            self.client.call("cancel_order", broker_order_id)
        except ccxt.OrderNotFound as exc:
            state = self._order(broker_order_id)
            raise OrderRejected(f"The order is already {state.status.value}.") from exc
        return self._order(broker_order_id)

    @TRANSLATOR.edge
    @timed
    def get_order(self, broker_order_id: str) -> OrderState:
        return self._order(broker_order_id)

    def _order(self, broker_order_id: str, *, client_order_id: str | None = None) -> OrderState:
        try:
            order = self.client.call("fetch_order", broker_order_id)
        except ccxt.InvalidOrder as exc:  # QueryOrders answers an unknown id with EOrder:Invalid order
            raise OrderNotFound(f"Kraken has no order {broker_order_id}.") from exc
        return self._states([order], client_order_id=client_order_id)[0]

    @TRANSLATOR.edge
    @timed
    def find_order(self, client_order_id: str) -> OrderState | None:
        """The order placed with this client id, open or closed, or None.

        Kraken checks `cl_ord_id` against OPEN orders only: an order that was accepted, lost its
        answer and has filled since is found only among closed orders, so both are searched
        before anything is sent again. The newest wins (a closed order's id may have been reused).
        """
        return self._find(client_order_id)

    def _find(self, client_order_id: str) -> OrderState | None:
        params = {"clientOrderId": payloads.client_id(client_order_id), "trades": True}
        for method in ("fetch_open_orders", "fetch_closed_orders"):
            orders = self.client.call(method, None, None, None, params)
            if orders:
                newest = max(orders, key=lambda o: o.get("timestamp") or 0)
                return self._states([newest], client_order_id=client_order_id)[0]
        return None

    @TRANSLATOR.edge
    @timed
    def open_orders(self) -> list[OrderState]:
        """OpenOrders (untriggered stops and conditional closes included), newest first."""
        orders = self.client.call("fetch_open_orders", None, None, None, {"trades": True})
        return self._states(sorted(orders, key=lambda o: o.get("timestamp") or 0, reverse=True))

    @TRANSLATOR.edge
    @timed
    def order_history(self, *, limit: int = 100) -> list[OrderState]:
        """Open orders, then ClosedOrders (filled, canceled, expired) a page of 50 per request; newest first."""
        orders: list[dict[str, Any]] = list(self.client.call("fetch_open_orders", None, None, None, {"trades": True}))
        closed = 0
        while len(orders) < limit:
            page = self.client.call("fetch_closed_orders", None, None, None, {"trades": True, "ofs": closed})
            orders.extend(page)
            closed += len(page)
            if len(page) < PAGE:
                break
        orders.sort(key=lambda o: float(o["info"].get("closetm") or o["info"].get("opentm") or 0), reverse=True)
        return self._states(orders[: max(limit, 0)])

    def _states(self, orders: Sequence[Mapping[str, Any]], *, client_order_id: str | None = None) -> list[OrderState]:
        """Our states, with fills; orders of several trades get theirs from QueryTrades, 20 ids a call."""
        wanted = [i for o in orders if len(ids := payloads.trade_ids(o["info"])) > 1 for i in ids]
        trades: dict[str, Any] = {}
        if wanted:
            found = self.client.call("fetch_order_trades", None, None, None, None, {"trades": wanted})
            trades = {t["id"]: t["info"] for t in found}
        return [payloads.order_state(o, trades=trades, client_order_id=client_order_id) for o in orders]

    # -- market ------------------------------------------------------------------------------

    @TRANSLATOR.edge
    @timed
    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """One Ticker call for every symbol Kraken lists; the others are left out."""
        markets = self.client.markets()
        return self._quotes([s.strip().upper() for s in symbols if s.strip().upper() in markets])

    def _quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        if not symbols:
            return {}
        tickers = self.client.call("fetch_tickers", list(symbols))
        return {symbol: payloads.quote(symbol, tickers[symbol]["info"]) for symbol in symbols if symbol in tickers}

    @TRANSLATOR.edge
    @timed
    def instrument(self, symbol: str) -> Instrument:
        return payloads.instrument(payloads.market_for(self.client.markets(), symbol))

    @TRANSLATOR.edge
    @timed
    def instruments(self) -> list[Instrument]:
        """Every spot pair of AssetPairs that is online."""
        markets = self.client.markets().values()
        return [payloads.instrument(m) for m in markets if m.get("spot") and m.get("active")]

    @TRANSLATOR.edge
    @timed
    def fees(self) -> FeeSchedule:
        """TradeVolume: the account's maker/taker percent at its 30-day volume (asked for BTC/USD)."""
        markets = self.client.markets()
        symbol = "BTC/USD" if "BTC/USD" in markets else next(iter(markets), "")
        if not symbol:
            raise InvalidSymbol("Kraken lists no pairs to read fees for.")
        info = self.client.call("fetch_trading_fee", symbol)["info"]
        pair = markets[symbol]["id"]
        return FeeSchedule(
            maker_pct=payloads.dec(info["fees_maker"][pair]["fee"]),
            taker_pct=payloads.dec(info["fees"][pair]["fee"]),
            currency=self.client.exchange.safe_currency_code(info.get("currency") or "ZUSD"),
            note="Kraken's fee tier for the account's 30-day volume, charged on each fill in the quote currency.",
        )

    def close(self) -> None:
        self.client.close()


def _submitted(request: OrderRequest, txid: str) -> OrderState:
    return OrderState(
        broker_order_id=txid,
        client_order_id=request.client_order_id,
        symbol=request.symbol,
        side=request.side,
        type=request.type,
        qty=request.qty,
        status=OrderStatus.SUBMITTED,
    )
