"""Sizing and pricing, as pure functions: how many units an order gets, at what prices.

Quantities are rounded DOWN to the instrument's lot, so rounding never carries an order past
a limit; prices are rounded to the tick, a limit's towards the better side for the bot.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from bots.models import SizingMode
from bots.reasons import Reason, Refusal
from brokers.adapters.base import Side

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class SizingInputs:
    mode: str
    value: Decimal
    price: Decimal  # the current quote
    entry: Decimal  # where the order should fill (its limit, else the quote)
    signal_qty: Decimal | None
    equity: Decimal | None  # of the target connection (percent modes only)
    stop: Decimal | None  # the stop-loss price (risk_percent only)


def units(inputs: SizingInputs) -> Decimal | Refusal:
    """Units before the target's multiplier and lot rounding."""
    mode, value = inputs.mode, inputs.value
    if mode == SizingMode.FIXED:
        return value
    if mode == SizingMode.NOTIONAL:
        return value / inputs.price
    if mode == SizingMode.SIGNAL:
        if inputs.signal_qty is None:
            return Refusal(Reason.SIZING_UNAVAILABLE, "Sizing by the signal's qty, but the signal has no qty.")
        return inputs.signal_qty * value
    if inputs.equity is None:
        return Refusal(Reason.SIZING_UNAVAILABLE, "No equity to size from.")
    budget = inputs.equity * value / HUNDRED
    if mode == SizingMode.PERCENT_EQUITY:
        return budget / inputs.price
    distance = abs(inputs.entry - inputs.stop) if inputs.stop is not None else Decimal(0)
    if distance <= 0:
        message = "risk_percent sizing needs a stop: a stop_loss in the signal or the order's stop_loss_pct."
        return Refusal(Reason.SIZING_UNAVAILABLE, message)
    return budget / distance


def lot_floor(qty: Decimal, lot: Decimal) -> Decimal:
    """`qty` rounded down to a multiple of `lot`."""
    if lot <= 0:
        return qty
    return (qty / lot).to_integral_value(rounding=ROUND_DOWN) * lot


def tick_round(price: Decimal, tick: Decimal, *, rounding: str = ROUND_HALF_UP) -> Decimal:
    if tick <= 0:
        return price
    return (price / tick).to_integral_value(rounding=rounding) * tick


def limit_price(*, reference: Decimal, offset_pct: Decimal | None, side: Side, tick: Decimal) -> Decimal:
    """A limit `offset_pct` % better than `reference` (below it for a buy, above for a sell); a
    negative offset makes a marketable limit that caps the slippage instead."""
    offset = (offset_pct or Decimal(0)) / HUNDRED
    if side == Side.BUY:
        return tick_round(reference * (1 - offset), tick, rounding=ROUND_FLOOR)
    return tick_round(reference * (1 + offset), tick, rounding=ROUND_CEILING)


def bracket_prices(
    *, entry: Decimal, side: Side, take_profit_pct: Decimal | None, stop_loss_pct: Decimal | None, tick: Decimal
) -> tuple[Decimal | None, Decimal | None]:
    """(take-profit limit, stop-loss stop) from the template's percentages around `entry`."""
    sign = 1 if side == Side.BUY else -1
    take = stop = None
    if take_profit_pct is not None:
        take = tick_round(entry * (1 + sign * take_profit_pct / HUNDRED), tick)
    if stop_loss_pct is not None:
        stop = tick_round(entry * (1 - sign * stop_loss_pct / HUNDRED), tick)
    return take, stop
