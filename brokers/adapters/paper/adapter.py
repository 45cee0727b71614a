"""`PaperAdapter`: the BrokerAdapter of the built-in paper broker.

It keeps one account per user (`paper-<user id>`) in the database and trades against the
simulated market. Resting orders are worked by `engine.match_open_orders`, which a Celery
beat task runs every second.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import ClassVar, ParamSpec, TypeVar

from django.db import DatabaseError
from django.utils import timezone

from brokers.adapters.base import (
    Account,
    AdapterContext,
    Balance,
    BrokerUnavailable,
    FeeSchedule,
    Instrument,
    OrderRequest,
    OrderState,
    Position,
    Quote,
)
from brokers.adapters.paper import books, engine, rules, universe
from brokers.adapters.paper.faults import faulty
from brokers.adapters.paper.market import market_quotes
from brokers.adapters.translate import Translator
from brokers.models import PaperAccount, PaperOrder, PaperPosition

Clock = Callable[[], datetime]
P = ParamSpec("P")
R = TypeVar("R")


# The adapter's edge: a database failure reaches callers as a temporary BrokerUnavailable.
TRANSLATOR = Translator(
    "The paper broker",
    rules=((DatabaseError, lambda exc: BrokerUnavailable("The paper broker's books are unavailable; try again.")),),
)


def _translated(method: Callable[P, R]) -> Callable[P, R]:
    """The edge of every call: vendor errors translated, and an armed fault (faults.py) applied."""
    translated = TRANSLATOR.edge(method)

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return faulty(method.__name__, lambda: translated(*args, **kwargs))

    return wrapper


class PaperAdapter:
    """The paper broker's account for `context.user_id`; credentials are not needed and ignored.

    `clock` gives the market time (default: now); tests inject one to move prices at will.
    Buys are checked against cash at placement and again at fill time; nothing is reserved,
    so buying power is simply the cash.
    """

    key: ClassVar[str] = "paper"

    def __init__(
        self, credentials: Mapping[str, str], *, paper: bool, context: AdapterContext, clock: Clock = timezone.now
    ) -> None:
        self._user_id = context.user_id
        self._clock = clock

    def _account(self) -> PaperAccount:
        return engine.account_ensure(self._user_id)

    @_translated
    def connect(self) -> Account:
        """Open (first time) or find the user's paper account: 100,000.00 USD to start."""
        account = self._account()
        return Account(id=account.account_id, currency=account.currency, paper=True)

    @_translated
    def balance(self) -> Balance:
        """Cash, and equity = cash + Σ qty x the market price now; buying power = cash (no margin)."""
        account, now = self._account(), self._clock()
        cash = rules.money(account.cash)
        equity = cash + sum((p.market_value for p in _positions(account, now)), Decimal("0.00"))
        return Balance(currency=account.currency, cash=cash, equity=equity, buying_power=cash, as_of=now)

    @_translated
    def positions(self) -> list[Position]:
        """Open positions by symbol, valued at the market price now."""
        return _positions(self._account(), self._clock())

    @_translated
    def place_order(self, request: OrderRequest) -> OrderState:
        """Place an order; idempotent on `client_order_id` (a repeat returns the first order's state).

        Marketable orders fill at once at the touch; others rest (status submitted) for
        `match_open_orders`; ioc/fok orders that cannot fill at once come back canceled.
        Raises InvalidSymbol (nothing recorded), InsufficientFunds or OrderRejected (the order
        is recorded as rejected with the reason, so `find_order` sees it).
        """
        state, error = engine.order_place(account=self._account(), request=request, now=self._clock())
        if error is not None:
            raise error
        return state

    @_translated
    def cancel_order(self, broker_order_id: str) -> OrderState:
        """Cancel an open order; OrderNotFound if unknown, OrderRejected("already filled") if filled."""
        return engine.order_cancel(account=self._account(), broker_order_id=broker_order_id)

    @_translated
    def get_order(self, broker_order_id: str) -> OrderState:
        return books.order_state(engine.order_get(account=self._account(), broker_order_id=broker_order_id))

    @_translated
    def find_order(self, client_order_id: str) -> OrderState | None:
        """The order placed with this client id (bracket legs: `<parent id>:tp` / `:sl`), or None."""
        order = PaperOrder.objects.filter(account=self._account(), client_order_id=client_order_id).first()
        return None if order is None else books.order_state(order)

    @_translated
    def open_orders(self) -> list[OrderState]:
        """Resting orders and held bracket legs (status pending), newest first."""
        orders = PaperOrder.objects.filter(account=self._account(), status__in=books.OPEN)
        return [books.order_state(order) for order in orders.order_by("-created_at")]

    @_translated
    def order_history(self, *, limit: int = 100) -> list[OrderState]:
        """Every order of the account, open or closed, newest first."""
        orders = PaperOrder.objects.filter(account=self._account()).order_by("-created_at")
        return [books.order_state(order) for order in orders[: max(limit, 0)]]

    @_translated
    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Quotes at the adapter's clock, keyed by canonical symbol; unknown symbols are left out."""
        return market_quotes(symbols, self._clock())

    def instrument(self, symbol: str) -> Instrument:
        """What the paper market lists under `symbol`; raises InvalidSymbol."""
        return universe.instrument(universe.listing(symbol))

    def instruments(self) -> list[Instrument]:
        return [universe.instrument(item) for item in universe.LISTINGS.values()]

    def fees(self) -> FeeSchedule:
        """Crypto: 0.15 % maker / 0.25 % taker (percent units), in USD; stocks: commission-free."""
        return rules.FEES

    def close(self) -> None:
        """Nothing to release: the books are in the database."""


def _positions(account: PaperAccount, now: datetime) -> list[Position]:
    rows = list(PaperPosition.objects.filter(account=account).order_by("symbol"))
    quotes = market_quotes({row.symbol for row in rows}, now)
    return [_position(row, quotes[row.symbol]) for row in rows]


def _position(row: PaperPosition, quote: Quote) -> Position:
    return Position(
        symbol=row.symbol,
        qty=books.plain(row.qty),
        avg_price=books.plain(row.avg_price),
        market_price=quote.price,
        market_value=rules.money(row.qty * quote.price),
        unrealized_pnl=rules.money((quote.price - row.avg_price) * row.qty),
    )
