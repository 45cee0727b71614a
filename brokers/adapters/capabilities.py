"""What a broker can do, as data: one `Capabilities` value per registry entry, merged over defaults.

Services, serializers, the wizard, `/api/brokers/supported` and the rate limiter read these and
branch on them; nothing branches on a broker's key (the way freqtrade declares `_ft_has`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from brokers.adapters.base import OrderType, TimeInForce

BracketSupport = Literal["native", "emulated", "none"]
# A bracket's exit legs: "any" (a take-profit, a stop-loss or both) or "both" (the pair or nothing:
# Coinbase's attached bracket).
BracketLegs = Literal["any", "both"]
# How a repeated client order id is treated by the broker:
#   unique            a repeat returns or refuses the first order (Alpaca, Coinbase, IB's orderRef lookup, paper)
#   open_orders_only  only open orders are checked (Kraken): after a lost response, look among closed ones too
#   remark            no id field; ours travels in a free-text remark we search by (Moomoo)
#   none              nothing to search by (Schwab): a lost response is matched on the account's recent orders
ClientIdDedup = Literal["unique", "open_orders_only", "remark", "none"]
OrderUpdates = Literal["stream", "poll"]  # the broker pushes order changes, or we poll open orders
# per_call: built for one call and closed; pooled: one session per connection per process
# (keep-alive); gateway: one long-lived socket per connection, owned by the gateway worker.
SessionPolicy = Literal["per_call", "pooled", "gateway"]
CallKind = Literal["orders", "cancels", "queries", "market_data"]
CALL_KINDS: tuple[CallKind, ...] = ("orders", "cancels", "queries", "market_data")
# Charges one request of a kind, at a cost, to the shared limiter just before it is sent. An adapter
# whose broker counts HTTP requests rather than our calls (Kraken) declares a `meter` property: the
# session sets it for each call and charges nothing per call itself.
Meter = Callable[[CallKind, int], None]


@dataclass(frozen=True)
class RateLimit:
    """`requests` per `per_seconds`, counted per `scope` as the broker counts it.

    `model="decay"` is a counter-decay bucket (Kraken): a burst of `requests`, then one per
    `per_seconds / requests` seconds. `model="window"` must never exceed `requests` in any
    window of `per_seconds`: a burst of `burst` calls (by default a tenth of `requests`), then
    calls spaced so the window still holds; a larger burst buys a lower steady rate. Limits with
    the same `bucket` name share one bucket: a broker that counts every call together declares
    one limit for every kind of call. `per_method` counts each adapter method apart, for brokers
    that limit each endpoint on its own (OpenD's queries).
    """

    requests: int
    per_seconds: float
    scope: Literal["credential", "account", "ip"] = "credential"
    model: Literal["window", "decay"] = "window"
    bucket: str = ""
    burst: int = 0
    per_method: bool = False


@dataclass(frozen=True)
class RateLimits:
    """One limit per kind of call; `cancels` defaults to the `orders` limit."""

    orders: RateLimit
    queries: RateLimit
    market_data: RateLimit
    cancels: RateLimit | None = None

    @classmethod
    def shared(cls, limit: RateLimit) -> RateLimits:
        """Every kind of call counts against one bucket."""
        limit = replace(limit, bucket=limit.bucket or "all")
        return cls(orders=limit, queries=limit, market_data=limit, cancels=limit)

    def for_kind(self, kind: CallKind) -> RateLimit:
        if kind == "cancels":
            return self.cancels or self.orders
        limit: RateLimit = getattr(self, kind)
        return limit

    def bucket_name(self, kind: CallKind) -> str:
        """The bucket a kind of call counts against (kinds sharing a named limit share it)."""
        limit = self.for_kind(kind)
        if limit.bucket:
            return limit.bucket
        return "orders" if kind == "cancels" and self.cancels is None else kind


_DEFAULT_LIMITS = RateLimits.shared(RateLimit(60, 60))


@dataclass(frozen=True)
class Capabilities:
    asset_classes: tuple[str, ...] = ("equity",)
    order_types: tuple[OrderType, ...] = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT)
    time_in_force: tuple[TimeInForce, ...] = (TimeInForce.DAY, TimeInForce.GTC)
    # Order types that take fewer time-in-force values than the rest (Coinbase's stop-limit: gtc, day).
    time_in_force_by_type: tuple[tuple[OrderType, tuple[TimeInForce, ...]], ...] = ()
    bracket: BracketSupport = "none"
    bracket_legs: BracketLegs = "any"
    # Whether a stop-loss leg may carry our limit price (Coinbase sets it itself).
    stop_loss_limit: bool = True
    fractional: bool = False
    short_selling: bool = False
    paper_trading: bool = False
    client_id_dedup: ClientIdDedup = "unique"
    order_updates: OrderUpdates = "poll"
    # How often open orders are polled when updates are not streamed (within the query limit).
    poll_seconds: float = 2.0
    session: SessionPolicy = "pooled"
    rate_limits: RateLimits = _DEFAULT_LIMITS
    # Seconds one call may take in all, the SDK's own retries included.
    timeout_seconds: float = 15.0

    def time_in_force_for(self, order_type: OrderType) -> tuple[TimeInForce, ...]:
        """The time-in-force values an order of `order_type` may carry, the broker's default first."""
        return dict(self.time_in_force_by_type).get(order_type, self.time_in_force)

    def as_dict(self) -> dict[str, Any]:
        """The public description, for /api/brokers/supported."""
        limits = self.rate_limits
        return {
            "asset_classes": list(self.asset_classes),
            "order_types": [t.value for t in self.order_types],
            "time_in_force": [t.value for t in self.time_in_force],
            "time_in_force_by_type": {
                kind.value: [t.value for t in allowed] for kind, allowed in self.time_in_force_by_type
            },
            "bracket": self.bracket,
            "bracket_legs": self.bracket_legs,
            "stop_loss_limit": self.stop_loss_limit,
            "fractional": self.fractional,
            "short_selling": self.short_selling,
            "client_id_dedup": self.client_id_dedup,
            "order_updates": self.order_updates,
            "session": self.session,
            "rate_limits": {
                kind: {"requests": limits.for_kind(kind).requests, "per_seconds": limits.for_kind(kind).per_seconds}
                for kind in CALL_KINDS
            },
        }


DEFAULTS = Capabilities()


def capabilities(**overrides: Any) -> Capabilities:
    """A broker's capabilities: what it declares, merged over `DEFAULTS`."""
    return replace(DEFAULTS, **overrides)
