"""The paper broker's trading rules, as pure functions: when an order fills, at what, for what fee.

No database here: the engine applies these decisions to its books under the account lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Protocol

from brokers.adapters.base import FeeSchedule, OrderRequest, OrderType, Quote, Side
from brokers.adapters.paper.universe import LISTINGS
from config.money import QUANTUM

CENT = Decimal("0.01")
# Crypto fees in percent of notional, charged in the quote currency; stocks trade commission-free.
MAKER_PCT = Decimal("0.15")
TAKER_PCT = Decimal("0.25")
FEES = FeeSchedule(
    maker_pct=MAKER_PCT,
    taker_pct=TAKER_PCT,
    currency="USD",
    note="Stocks and ETFs are commission-free; the percentages apply to crypto pairs, charged in USD on each fill.",
)
_STOP_TYPES = (OrderType.STOP, OrderType.STOP_LIMIT)
_LIMIT_TYPES = (OrderType.LIMIT, OrderType.STOP_LIMIT)


class Liquidity(StrEnum):
    MAKER = "maker"  # rested on the book, then filled
    TAKER = "taker"  # filled on arrival (or on its stop firing)


class Terms(Protocol):
    """The parts of an order the rules read (a PaperOrder has them)."""

    side: str
    type: str
    limit_price: Decimal | None
    stop_price: Decimal | None


@dataclass(frozen=True)
class Step:
    """What an open order does against one quote."""

    fill_price: Decimal | None  # None: it keeps resting
    triggered: bool  # its stop fired now (a stop-limit becomes a plain limit)
    liquidity: Liquidity


def touch(side: Side, quote: Quote) -> Decimal:
    """The price a marketable order takes: the ask for buys, the bid for sells."""
    return quote.ask if side is Side.BUY else quote.bid


def stop_fired(side: Side, stop: Decimal, quote: Quote) -> bool:
    """A buy stop fires once the last price reaches its stop from below; a sell stop from above."""
    return quote.price >= stop if side is Side.BUY else quote.price <= stop


def within_limit(side: Side, price: Decimal, limit: Decimal) -> bool:
    return price <= limit if side is Side.BUY else price >= limit


def step(terms: Terms, quote: Quote, *, resting: bool) -> Step | None:
    """Decide what an open order does now; None when nothing changes.

    A stop-limit whose stop has fired is stored without a stop price and works as a limit.
    Fills happen at the touch, which is never worse than the limit. A limit order that was
    already resting before this quote provides liquidity (maker); everything else takes it.
    """
    side, order_type = Side(terms.side), OrderType(terms.type)
    stop = terms.stop_price if order_type in _STOP_TYPES else None
    if stop is not None and not stop_fired(side, stop, quote):
        return None
    waiting = stop is not None
    limit = terms.limit_price if order_type in _LIMIT_TYPES else None
    price = touch(side, quote)
    if limit is not None and not within_limit(side, price, limit):
        return Step(None, True, Liquidity.TAKER) if waiting else None
    maker = resting and limit is not None and not waiting
    return Step(price, waiting, Liquidity.MAKER if maker else Liquidity.TAKER)


def money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def fee(symbol: str, notional: Decimal, liquidity: Liquidity) -> Decimal:
    """The fee on a fill of `notional` USD: zero for stocks, maker/taker percent for crypto."""
    if not LISTINGS[symbol].crypto:
        return Decimal("0.00")
    rate = MAKER_PCT if liquidity is Liquidity.MAKER else TAKER_PCT
    return money(notional * rate / 100)


def reference_price(request_type: OrderType, limit: Decimal | None, stop: Decimal | None, quote: Quote) -> Decimal:
    """What a buy is expected to cost per unit when placed: its limit, else its stop, else the ask."""
    if request_type in _LIMIT_TYPES and limit is not None:
        return limit
    if request_type is OrderType.STOP and stop is not None:
        return max(stop, quote.ask)
    return quote.ask


def request_problem(request: OrderRequest) -> str | None:
    """Why the broker refuses this order's shape, or None when it is well formed."""
    problems = (
        (request.qty <= 0, "qty must be positive"),
        (request.qty != request.qty.quantize(QUANTUM), "qty has more than 10 decimal places"),
        (request.type in _LIMIT_TYPES and request.limit_price is None, f"a {request.type} order needs a limit price"),
        (request.type in _STOP_TYPES and request.stop_price is None, f"a {request.type} order needs a stop price"),
        (any(p is not None and p <= 0 for p in _prices(request)), "prices must be positive"),
        (
            request.stop_loss_limit_price is not None and request.stop_loss_stop_price is None,
            "stop-loss without a stop",
        ),
        (request.has_bracket and request.side is Side.SELL, "take-profit/stop-loss need a buy (no short selling)"),
        (_bracket_inverted(request), "the take-profit must be above the stop-loss"),
    )
    return next((message for failed, message in problems if failed), None)


def _prices(request: OrderRequest) -> tuple[Decimal | None, ...]:
    return (
        request.limit_price,
        request.stop_price,
        request.take_profit_limit_price,
        request.stop_loss_stop_price,
        request.stop_loss_limit_price,
    )


def _bracket_inverted(request: OrderRequest) -> bool:
    take, stop = request.take_profit_limit_price, request.stop_loss_stop_price
    return take is not None and stop is not None and take <= stop
