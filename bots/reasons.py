"""Why a signal was refused: one code per rule (CONTRACT.md's, plus a few the contract leaves open)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    INVALID_PAYLOAD = "invalid_payload"
    RATE_LIMITED = "rate_limited"
    STALE_SIGNAL = "stale_signal"
    BOT_NOT_RUNNING = "bot_not_running"
    KILL_SWITCH = "kill_switch"
    SYMBOL_NOT_ALLOWED = "symbol_not_allowed"
    DIRECTION_NOT_ALLOWED = "direction_not_allowed"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_POSITION_NOTIONAL = "max_position_notional"
    MAX_OPEN_POSITIONS = "max_open_positions"
    MAX_DAILY_LOSS = "max_daily_loss"
    MAX_TRADES_PER_DAY = "max_trades_per_day"
    NO_POSITION = "no_position"
    BROKER_UNAVAILABLE = "broker_unavailable"
    # Beyond the contract's list ("reason codes include ..."):
    QUOTE_UNAVAILABLE = "quote_unavailable"  # the quote source (or Redis in front of it) did not answer
    INVALID_SYMBOL = "invalid_symbol"  # the target broker does not list the symbol
    SIZING_UNAVAILABLE = "sizing_unavailable"  # no equity, no stop distance, no qty for `signal` sizing
    SIZE_TOO_SMALL = "size_too_small"  # rounded down to the lot, nothing (or less than the minimum) is left
    ORDER_NOT_SUPPORTED = "order_not_supported"  # the broker does not take the order the template makes
    BROKER_NOT_ALLOWED = "broker_not_allowed"  # live on a broker the user may not use (tier, allow-list)
    QUEUE_UNAVAILABLE = "queue_unavailable"  # recorded, but the worker queue could not take it
    INTERNAL_ERROR = "internal_error"  # deciding it failed on our side (logged); never retried for ever


@dataclass(frozen=True)
class Refusal:
    """A rule said no. `halts`: the bot stops (state `halted`, `halted_reason` = the code) rather
    than failing signal after signal (a daily loss breached, a target connection broken)."""

    code: Reason
    message: str
    halts: bool = False
