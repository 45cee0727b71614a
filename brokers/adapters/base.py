"""The broker interface: value types, the error hierarchy and the adapter protocol.

Every broker module implements `BrokerAdapter` in the broker's own terms underneath and
translates every SDK/vendor exception into one of the errors below at its edge, so the
rest of the project never sees a vendor type. Money and quantities are `Decimal`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Protocol, runtime_checkable

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

    @property
    def has_bracket(self) -> bool:
        return self.take_profit_limit_price is not None or self.stop_loss_stop_price is not None


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
class AdapterContext:
    """Who an adapter acts for; lets the paper broker key its state, others ignore it."""

    user_id: int
    connection_id: int | None = None


# --- errors ----------------------------------------------------------------------


class BrokerError(Exception):
    """Base of every broker failure. `temporary` errors may be retried; others may not."""

    code: ClassVar[str] = "broker_error"
    temporary: ClassVar[bool] = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class AuthenticationFailed(BrokerError):
    code = "broker_auth_failed"


class RateLimited(BrokerError):
    code = "rate_limited"
    temporary = True


class InvalidSymbol(BrokerError):
    code = "invalid_symbol"


class InsufficientFunds(BrokerError):
    code = "insufficient_funds"


class OrderRejected(BrokerError):
    code = "order_rejected"


class OrderNotFound(BrokerError):
    code = "not_found"


class BrokerUnavailable(BrokerError):
    code = "broker_unavailable"
    temporary = True


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

    def order_history(self, *, limit: int = 100) -> list[OrderState]: ...

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Latest quotes, batched where the broker allows; unknown symbols are left out."""
        ...

    def validate_symbol(self, symbol: str) -> str:
        """The canonical form of `symbol`; raises InvalidSymbol."""
        ...

    def fees(self) -> FeeSchedule: ...

    def close(self) -> None: ...


class AdapterFactory(Protocol):
    def __call__(self, credentials: Mapping[str, str], *, paper: bool, context: AdapterContext) -> BrokerAdapter: ...


__all__ = [
    "OPEN_STATUSES",
    "Account",
    "AdapterContext",
    "AdapterFactory",
    "AuthenticationFailed",
    "Balance",
    "BrokerAdapter",
    "BrokerError",
    "BrokerUnavailable",
    "FeeSchedule",
    "InsufficientFunds",
    "InvalidSymbol",
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
    "TimeInForce",
]
