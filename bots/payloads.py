"""The signal shape (CONTRACT.md): `{"id"?, "action", "symbol", "qty"?, "price"?, "stop_loss"?,
"take_profit"?, "time"?}`.

Alerting tools send numbers as JSON numbers or strings, and times as ISO-8601 text or epoch
seconds/milliseconds (TradingView's `{{timenow}}` is ISO, `{{time}}` too); both are taken.
Numbers become Decimal through their shortest text, never through float arithmetic. Keys
beyond the shape are kept in the record and otherwise ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from config.money import QUANTUM

ACTIONS = ("buy", "sell", "close")
MAX_SYMBOL = 32
MAX_ID = 64
_MAX_NUMBER = Decimal(10) ** 17
_EPOCH_MS_ABOVE = 10**11  # an epoch this large is in milliseconds (10**11 s is the year 5138)


class PayloadError(ValueError):
    """Not the signal shape; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SignalPayload:
    action: str
    symbol: str
    id: str | None = None
    qty: Decimal | None = None
    price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    time: datetime | None = None


def payload_decode(text: str) -> Any:
    """The body as JSON; PayloadError when it is not JSON (NaN and Infinity are not JSON either)."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise PayloadError("body", f"The body is not JSON: {exc}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def payload_parse(data: Any) -> SignalPayload:
    """The decoded body as a signal; raises PayloadError naming the first field at fault."""
    if not isinstance(data, dict):
        raise PayloadError("body", "The signal must be a JSON object.")
    action = data.get("action")
    if not isinstance(action, str) or action.strip().lower() not in ACTIONS:
        raise PayloadError("action", "action must be one of: buy, sell, close.")
    symbol = data.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip() or len(symbol.strip()) > MAX_SYMBOL:
        raise PayloadError("symbol", f"symbol must be a non-empty string of at most {MAX_SYMBOL} characters.")
    return SignalPayload(
        action=action.strip().lower(),
        symbol=symbol.strip(),
        id=_id(data.get("id")),
        qty=_positive(data, "qty"),
        price=_positive(data, "price"),
        stop_loss=_positive(data, "stop_loss"),
        take_profit=_positive(data, "take_profit"),
        time=_time(data.get("time")),
    )


def _id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PayloadError("id", "id must be a string or an integer.")
    text = str(value).strip()
    if not text or len(text) > MAX_ID:
        raise PayloadError("id", f"id must have 1 to {MAX_ID} characters.")
    return text


def _positive(data: dict[str, Any], name: str) -> Decimal | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    number = _decimal(value)
    if number is not None and number < _MAX_NUMBER:
        number = number.quantize(QUANTUM, rounding=ROUND_DOWN)  # the precision we store
    if number is None or not (0 < number < _MAX_NUMBER):
        raise PayloadError(name, f"{name} must be a positive number.")
    return number


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = Decimal(str(value).strip())  # a float's str is its shortest round-trip text
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if value > _EPOCH_MS_ABOVE else value
            return datetime.fromtimestamp(seconds, tz=UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise PayloadError("time", "time must be ISO-8601 or epoch seconds/milliseconds.")
