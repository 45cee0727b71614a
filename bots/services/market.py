"""What a decision needs from outside the bot: connections, instruments, quotes, equity.

Each lookup is made once per decision (quotes once per batch of followers, through a shared
`QuoteBook`) and comes back as a value or as the `Refusal` its failure means. Nothing here
lets a check pass on missing data: a quote source, Redis or broker that does not answer is a
refusal with a reason (fail closed), never an order placed unchecked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import redis
from django.utils import timezone

from accounts.models import User
from bots.reasons import Reason, Refusal
from brokers.adapters.base import BrokerError, InvalidSymbol, Quote
from brokers.adapters.registry import BROKERS, get_spec
from brokers.gating import PAPER, broker_access_check
from brokers.models import BalanceSnapshot, BrokerConnection, ConnectionStatus, Instrument
from brokers.services.connections import connection_configure, connection_refresh, snapshot_is_stale
from brokers.services.instruments import instrument_get
from config.domain import Conflict, DomainError
from watchlist.marketdata import quotes_fetch

logger = logging.getLogger(__name__)

QUOTE_WAIT_SECONDS = 2.0  # for a rate-limiter slot of the quote source
QUOTE_MAX_AGE = timedelta(seconds=60)  # an older quote does not price an order
BROKEN = (ConnectionStatus.ERROR, ConnectionStatus.PENDING_AUTHORIZATION, ConnectionStatus.DISABLED)


class QuoteBook:
    """Quotes by symbol and instruments by (broker, symbol), each looked up once for everyone
    sharing the book (a batch of followers of one signal)."""

    def __init__(self) -> None:
        self._found: dict[str, Quote | Refusal] = {}
        self._instruments: dict[tuple[str, str], Instrument | Refusal] = {}

    def get(self, symbol: str, connection: BrokerConnection | None = None) -> Quote | Refusal:
        if symbol not in self._found:
            self._found[symbol] = self._fetch(symbol, connection)
        return self._found[symbol]

    def instrument(self, connection: BrokerConnection, symbol: str) -> Instrument | Refusal:
        key = (connection.broker, symbol)
        if key not in self._instruments:
            self._instruments[key] = _instrument(connection, symbol)
        return self._instruments[key]

    def _fetch(self, symbol: str, connection: BrokerConnection | None) -> Quote | Refusal:
        try:
            batch = quotes_fetch([symbol], wait=QUOTE_WAIT_SECONDS)
            failure = next((error for _, error in batch.failed.values()), None)
            if failure is not None:  # the source (or the Redis limiter in front of it) did not answer
                return Refusal(Reason.QUOTE_UNAVAILABLE, f"No quote for {symbol}: {failure.message}")
            quote = batch.quotes.get(symbol)
            if quote is None and connection is not None:
                quote = _broker_quote(connection, symbol)  # a symbol the site's source does not carry
        except (BrokerError, redis.RedisError) as exc:
            return Refusal(Reason.QUOTE_UNAVAILABLE, f"No quote for {symbol}: {exc}")
        if quote is None:
            return Refusal(Reason.QUOTE_UNAVAILABLE, f"No quote for {symbol}.")
        if timezone.now() - quote.as_of > QUOTE_MAX_AGE:
            return Refusal(Reason.QUOTE_UNAVAILABLE, f"The last quote for {symbol} is from {quote.as_of:%H:%M:%S}.")
        return quote


def _instrument(connection: BrokerConnection, symbol: str) -> Instrument | Refusal:
    try:
        return instrument_get(connection=connection, symbol=symbol)
    except InvalidSymbol as exc:
        return Refusal(Reason.INVALID_SYMBOL, exc.message)
    except (BrokerError, redis.RedisError) as exc:
        return Refusal(Reason.BROKER_UNAVAILABLE, f"Could not look {symbol} up at {connection.broker}: {exc}")


def _broker_quote(connection: BrokerConnection, symbol: str) -> Quote | None:
    from brokers.sessions import broker_session

    with broker_session(connection, wait=QUOTE_WAIT_SECONDS) as adapter:
        return adapter.quotes([symbol]).get(symbol)


@dataclass
class Market:
    """The outside world of one decision, for `user`; `paper` routes every target to the paper broker."""

    user: User
    paper: bool
    quotes: QuoteBook = field(default_factory=QuoteBook)
    _connections: dict[str, BrokerConnection | Refusal] = field(default_factory=dict)
    _equity: dict[int, Decimal | Refusal] = field(default_factory=dict)

    def connection(self, broker: str) -> BrokerConnection | Refusal:
        key = PAPER if self.paper else broker
        if key not in self._connections:
            self._connections[key] = self._paper_connection() if self.paper else self._live_connection(broker)
        return self._connections[key]

    def quote(self, symbol: str, connection: BrokerConnection) -> Quote | Refusal:
        return self.quotes.get(symbol, connection)

    def instrument(self, connection: BrokerConnection, symbol: str) -> Instrument | Refusal:
        return self.quotes.instrument(connection, symbol)

    def equity(self, connection: BrokerConnection) -> Decimal | Refusal:
        if connection.pk not in self._equity:
            self._equity[connection.pk] = _equity(connection)
        return self._equity[connection.pk]

    def _paper_connection(self) -> BrokerConnection | Refusal:
        found = BrokerConnection.objects.filter(user=self.user, broker=PAPER).first()
        if found is not None:
            return found
        try:
            return connection_configure(user=self.user, spec=BROKERS[PAPER], credentials={}, paper=True)
        except Conflict:  # configured meanwhile by another worker
            return BrokerConnection.objects.get(user=self.user, broker=PAPER)
        except (BrokerError, DomainError) as exc:
            return Refusal(Reason.BROKER_UNAVAILABLE, f"The paper broker could not be connected: {exc}", halts=True)

    def _live_connection(self, broker: str) -> BrokerConnection | Refusal:
        spec = get_spec(broker)
        try:
            broker_access_check(user=self.user, spec=spec)
        except DomainError as exc:
            return Refusal(Reason.BROKER_NOT_ALLOWED, exc.message, halts=True)
        connection = BrokerConnection.objects.filter(user=self.user, broker=spec.key).first()
        if connection is None:
            return Refusal(Reason.BROKER_UNAVAILABLE, f"{spec.name} is not connected.", halts=True)
        if connection.status in BROKEN:
            message = f"{spec.name} needs attention ({connection.status}): reconnect it, then restart the bot."
            return Refusal(Reason.BROKER_UNAVAILABLE, message, halts=True)
        return connection


def _equity(connection: BrokerConnection) -> Decimal | Refusal:
    snapshot = BalanceSnapshot.objects.filter(connection=connection).order_by("-as_of").first()
    if snapshot is None or snapshot_is_stale(as_of=snapshot.as_of):
        try:
            snapshot = connection_refresh(connection=connection, wait=QUOTE_WAIT_SECONDS)
        except BrokerError as exc:
            return Refusal(Reason.BROKER_UNAVAILABLE, f"No current balance from {connection.broker}: {exc.message}")
    if snapshot is None or snapshot.equity <= 0:
        return Refusal(Reason.SIZING_UNAVAILABLE, f"The {connection.broker} account has no equity to size from.")
    return snapshot.equity
