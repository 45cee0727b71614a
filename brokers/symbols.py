"""The one symbol normaliser: how any spelling a person types becomes our canonical form.

Canonical symbols are upper case without whitespace anywhere: `AAPL`, `BTC/USD` (" btc / usd "
→ "BTC/USD"). Whether a broker or market lists the symbol is a separate question (instruments).
"""

from __future__ import annotations


def symbol_normalize(raw: str) -> str:
    return "".join(raw.split()).upper()
