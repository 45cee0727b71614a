"""The broker interface: value types, the error hierarchy and the adapter protocol.

Every broker module implements `BrokerAdapter` in the broker's own terms underneath and
translates every SDK/vendor exception into one of the errors below at its edge, so the
rest of the project never sees a vendor type. Money and quantities are `Decimal`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Literal, Protocol, runtime_checkable

# --- value types ---------------------------------------------------------------


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(StrEnum):
    PENDING = "pending"  # stored, not yet sent
    SUBMITTED = "submitted"  # the broker has it
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"  # the broker said no
    FAILED = "failed"  # we could not submit it
    UNKNOWN = "unknown"  # sent, outcome not yet known (lost response)

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATUSES


OPEN_STATUSES = frozenset(
    {OrderStatus.PENDING, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.UNKNOWN}
)


@dataclass(frozen=True)
class Account:
    id: str
    currency: str
    paper: bool


@dataclass(frozen=True)
class Balance:
    currency: str
    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    as_of: datetime


@dataclass(frozen=True)
class Position:
    symbol: str
    qty: Decimal
    avg_price: Decimal
    market_price: Decimal
    market_value: Decimal
    unrealized_pnl: Decimal


@dataclass(frozen=True)
class OrderRequest:
    """An order as we send it. Its fields are the one list of order fields: the model's columns,
    the API's input and the fingerprint that tells a retry from a different order derive from it."""

    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    time_in_force: TimeInForce = TimeInForce.DAY
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    take_profit_limit_price: Decimal | None = None
    stop_loss_stop_price: Decimal | None = None
    stop_loss_limit_price: Decimal | None = None

    @classmethod
    def of(cls, **values: object) -> OrderRequest:
        """From plain values (the enums as strings, as stored or posted)."""
        fields = dict(values)
        fields["side"], fields["type"] = Side(fields["side"]), OrderType(fields["type"])
        tif = fields.pop("time_in_force", None)
        if tif is not None:
            fields["time_in_force"] = TimeInForce(tif)
        return cls(**fields)  # type: ignore[arg-type]

    @property
    def has_bracket(self) -> bool:
        return self.take_profit_limit_price is not None or self.stop_loss_stop_price is not None

    def fingerprint(self, broker: str) -> str:
        """Same order, same fingerprint (the client order id aside): how a retry is told from a different order."""
        values = {name: None if (v := getattr(self, name)) is None else str(v) for name in ORDER_FIELDS}
        return hashlib.sha256(json.dumps({"broker": broker, **values}, sort_keys=True).encode()).hexdigest()


# The order's own fields, in declaration order (the client order id is its identity, not a field).
ORDER_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(OrderRequest) if f.name != "client_order_id")
NEEDS_PRICE: dict[OrderType, tuple[bool, bool]] = {  # (needs a limit price, needs a stop price)
    OrderType.MARKET: (False, False),
    OrderType.LIMIT: (True, False),
    OrderType.STOP: (False, True),
    OrderType.STOP_LIMIT: (True, True),
}


def bracket_problem(
    *, side: Side, take_profit: Decimal | None, stop_loss: Decimal | None, stop_loss_limit: Decimal | None = None
) -> tuple[str, str] | None:
    """(field, message) when take-profit/stop-loss legs are inconsistent, else None: the bracket rule, once.

    The exit legs of a buy sit above (profit) and below (loss) the entry; a sell's the reverse.
    """
    if stop_loss_limit is not None and stop_loss is None:
        return "stop_loss", "A stop-loss limit price needs a stop price."
    if take_profit is None or stop_loss is None:
        return None
    if side == Side.BUY and take_profit <= stop_loss:
        return "take_profit", "For a buy, take-profit must be above the stop-loss."
    if side == Side.SELL and take_profit >= stop_loss:
        return "take_profit", "For a sell, take-profit must be below the stop-loss."
    return None


@dataclass(frozen=True)
class Execution:
    """One fill as the broker reports it, keyed by the broker's execution id."""

    execution_id: str
    qty: Decimal
    price: Decimal
    fee: Decimal = Decimal(0)
    fee_currency: str = ""
    executed_at: datetime | None = None


LegRole = Literal["", "take_profit", "stop_loss"]


@dataclass(frozen=True)
class OrderState:
    """What the broker says about one order right now."""

    broker_order_id: str
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    status: OrderStatus
    filled_qty: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    fee: Decimal = Decimal(0)
    reason: str = ""  # why it was rejected, when it was
    updated_at: datetime | None = None
    # The fills behind `filled_qty`, where the broker reports them one by one; brokers that
    # report only cumulative figures leave this empty and the service derives the fills.
    fills: tuple[Execution, ...] = ()
    # A native bracket's exit legs, reported with their parent: each a state with `role` set.
    legs: tuple[OrderState, ...] = ()
    role: LegRole = ""


@dataclass(frozen=True)
class Quote:
    symbol: str
    price: Decimal
    bid: Decimal
    ask: Decimal
    change: Decimal  # against the previous close / 24h ago
    change_pct: Decimal
    volume: Decimal
    as_of: datetime  # when the source produced it
    source: str


@dataclass(frozen=True)
class FeeSchedule:
    maker_pct: Decimal
    taker_pct: Decimal
    per_order: Decimal = Decimal(0)
    currency: str = "USD"
    note: str = ""


@dataclass(frozen=True)
class Instrument:
    """What a broker trades under a symbol, and how an order in it must be shaped."""

    symbol: str  # canonical: AAPL, BTC/USD
    asset_class: str  # equity, crypto, option, ...
    broker_symbol: str  # the broker's own name for it (XXBTZUSD, BTC-USD, a contract id)
    tick_size: Decimal  # prices are multiples of this
    lot_size: Decimal  # quantities are multiples of this
    min_qty: Decimal
    fractional: bool = False
    currency: str = "USD"


# Called with a function of the stored credentials that returns the fields to change (or None);
# runs it under the connection's row lock and returns the credentials as stored afterwards.
CredentialsUpdate = Callable[[Callable[[dict[str, str]], dict[str, str] | None]], dict[str, str]]


@dataclass(frozen=True)
class AdapterContext:
    """Who an adapter acts for, and how it saves refreshed credentials (rotating OAuth tokens).

    `credentials_update` is None when nothing is stored yet (a connection test); otherwise two
    refreshers in any processes are serialised on the connection's row, and the second sees the
    first's newer token instead of refreshing again with a spent one.
    """

    user_id: int
    connection_id: int | None = None
    credentials_update: CredentialsUpdate | None = field(default=None, compare=False, repr=False)


# --- errors ----------------------------------------------------------------------


class BrokerError(Exception):
    """Base of every broker failure. Only `TemporaryBrokerError`s may be retried.

    `code` is what a `trade:failed` event and the order's `error` carry; code that decides
    anything checks the class with `isinstance`, never the code.
    """

    code: ClassVar[str] = "broker_error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    @property
    def temporary(self) -> bool:
        return isinstance(self, TemporaryBrokerError)


class TemporaryBrokerError(BrokerError):
    """A failure that may pass: retried with backoff and jitter, the broker's retry-after honoured."""


class AuthenticationFailed(BrokerError):
    code = "broker_auth_failed"


class RateLimited(TemporaryBrokerError):
    code = "rate_limited"


class InvalidSymbol(BrokerError):
    code = "invalid_symbol"


class InsufficientFunds(BrokerError):
    code = "insufficient_funds"


class OrderRejected(BrokerError):
    code = "order_rejected"


class OrderNotFound(BrokerError):
    code = "order_not_found"


class BrokerUnavailable(TemporaryBrokerError):
    """The broker did not answer (outage, timeout, gateway down): the outcome of a send is unknown."""

    code = "broker_unavailable"


# --- the interface -------------------------------------------------------------------


@runtime_checkable
class BrokerAdapter(Protocol):
    """One broker account, spoken to in the broker's own protocol.

    Constructed with the plaintext credentials (from the vault, never logged), whether the
    account is paper, and the context. Every method raises only `BrokerError` subclasses.
    """

    key: ClassVar[str]

    def connect(self) -> Account:
        """Authenticate and describe the account; raises AuthenticationFailed on bad keys."""
        ...

    def balance(self) -> Balance: ...

    def positions(self) -> list[Position]: ...

    def place_order(self, request: OrderRequest) -> OrderState:
        """Submit; the broker deduplicates on `client_order_id` where it can."""
        ...

    def cancel_order(self, broker_order_id: str) -> OrderState: ...

    def get_order(self, broker_order_id: str) -> OrderState: ...

    def find_order(self, client_order_id: str) -> OrderState | None:
        """The order this client id was placed as, or None: how a lost response is recovered."""
        ...

    def open_orders(self) -> list[OrderState]: ...

    def order_history(self, *, limit: int = 100) -> list[OrderState]:
        """The account's recent orders, open and closed, newest first (at most `limit`)."""
        ...

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Latest quotes, batched where the broker allows; unknown symbols are left out."""
        ...

    def instrument(self, symbol: str) -> Instrument:
        """The instrument a canonical symbol names at this broker; raises InvalidSymbol."""
        ...

    def instruments(self) -> list[Instrument]:
        """Everything the broker lists, from its metadata endpoints ([] when it cannot list them all)."""
        ...

    def fees(self) -> FeeSchedule: ...

    def close(self) -> None: ...


OrderListener = Callable[[OrderState], None]


@runtime_checkable
class StreamingAdapter(Protocol):
    """An adapter whose broker pushes order changes (capability `order_updates="stream"`)."""

    def subscribe(self, listener: OrderListener) -> None:
        """Call `listener` with an order's state whenever the broker reports a change or a fill."""
        ...


class AdapterFactory(Protocol):
    def __call__(self, credentials: Mapping[str, str], *, paper: bool, context: AdapterContext) -> BrokerAdapter: ...


__all__ = [
    "NEEDS_PRICE",
    "OPEN_STATUSES",
    "ORDER_FIELDS",
    "Account",
    "AdapterContext",
    "AdapterFactory",
    "AuthenticationFailed",
    "Balance",
    "BrokerAdapter",
    "BrokerError",
    "BrokerUnavailable",
    "CredentialsUpdate",
    "Execution",
    "FeeSchedule",
    "Instrument",
    "InsufficientFunds",
    "InvalidSymbol",
    "LegRole",
    "OrderListener",
    "OrderNotFound",
    "OrderRejected",
    "OrderRequest",
    "OrderState",
    "OrderStatus",
    "OrderType",
    "Position",
    "Quote",
    "RateLimited",
    "Side",
    "StreamingAdapter",
    "TemporaryBrokerError",
    "TimeInForce",
    "bracket_problem",
]
