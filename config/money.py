"""Decimal money as JSON: plain-notation strings, never floats, never exponents."""

from __future__ import annotations

from decimal import Decimal


def money_str(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", "0"} else text
