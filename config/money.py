"""Decimal money, in one place: the precision we store and the plain-notation strings JSON carries.

Money, quantities and prices are `Decimal` end to end. The database keeps 10 decimal places
(`MONEY_FIELD`, `QUANTUM`); JSON carries plain-notation strings, never floats, never exponents.
"""

from __future__ import annotations

from decimal import Decimal

DECIMAL_PLACES = 10
MAX_DIGITS = 28
QUANTUM = Decimal(1).scaleb(-DECIMAL_PLACES)
MONEY_FIELD = {"max_digits": MAX_DIGITS, "decimal_places": DECIMAL_PLACES}


def money_str(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", "0"} else text
