"""Calls and answers between processes and the gateway worker, as JSON (never pickle: Redis is shared).

Only the adapter interface's value types and errors cross: each is tagged with its name and
rebuilt from an allow-list, Decimals and datetimes keep their exact values, enums their values.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from brokers.adapters import base

_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        base.Account,
        base.Balance,
        base.Position,
        base.OrderRequest,
        base.OrderState,
        base.Execution,
        base.Quote,
        base.FeeSchedule,
        base.Instrument,
    )
}
_ENUMS: dict[str, type[Enum]] = {
    cls.__name__: cls for cls in (base.Side, base.OrderType, base.TimeInForce, base.OrderStatus)
}
_ERRORS: dict[str, type[base.BrokerError]] = {
    cls.__name__: cls
    for cls in (
        base.BrokerError,
        base.AuthenticationFailed,
        base.RateLimited,
        base.InvalidSymbol,
        base.InsufficientFunds,
        base.OrderRejected,
        base.OrderNotFound,
        base.BrokerUnavailable,
    )
}


def encode(value: Any) -> Any:
    if isinstance(value, Enum):
        return {"$enum": type(value).__name__, "v": value.value}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$type": type(value).__name__, "v": fields}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, tuple):
        return {"$tuple": [encode(item) for item in value]}
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {"$dict": [[encode(k), encode(v)] for k, v in value.items()]}
    return value


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "$dec" in value:
        return Decimal(value["$dec"])
    if "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    if "$enum" in value:
        return _ENUMS[value["$enum"]](value["v"])
    if "$tuple" in value:
        return tuple(decode(item) for item in value["$tuple"])
    if "$dict" in value:
        return {decode(k): decode(v) for k, v in value["$dict"]}
    if "$type" in value:
        return _TYPES[value["$type"]](**{k: decode(v) for k, v in value["v"].items()})
    raise ValueError(f"not a gateway value: {sorted(value)}")


def encode_error(exc: base.BrokerError) -> dict[str, Any]:
    kind = type(exc).__name__ if type(exc).__name__ in _ERRORS else "BrokerError"
    return {"$error": kind, "message": exc.message, "retry_after": exc.retry_after}


def decode_error(value: dict[str, Any]) -> base.BrokerError:
    return _ERRORS.get(value["$error"], base.BrokerError)(value["message"], retry_after=value.get("retry_after"))
