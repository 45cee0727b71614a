"""Interactive Brokers through the user's IB Gateway/TWS (ib_async), loaded only when used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from brokers.adapters.ibkr.adapter import IbkrAdapter

__all__ = ["IbkrAdapter"]


def __getattr__(name: str) -> Any:
    if name == "IbkrAdapter":
        from brokers.adapters.ibkr.adapter import IbkrAdapter

        return IbkrAdapter
    raise AttributeError(name)
