"""The paper broker: a real adapter over a simulated market, with its books in the database.

`market_quote(s)` are pure (no Django) so the watchlist can quote from them anywhere.
`PaperAdapter` and `match_open_orders` are loaded on first access because they import models,
which need the app registry ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from brokers.adapters.paper.market import market_quote, market_quotes

if TYPE_CHECKING:
    from brokers.adapters.paper.adapter import PaperAdapter
    from brokers.adapters.paper.engine import match_open_orders

__all__ = ["PaperAdapter", "market_quote", "market_quotes", "match_open_orders"]


def __getattr__(name: str) -> Any:
    if name == "PaperAdapter":
        from brokers.adapters.paper.adapter import PaperAdapter

        return PaperAdapter
    if name == "match_open_orders":
        from brokers.adapters.paper.engine import match_open_orders

        return match_open_orders
    raise AttributeError(name)
