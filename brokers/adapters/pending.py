"""Stand-in for a real broker whose adapter has not landed yet: every call says so plainly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, NoReturn

from brokers.adapters.base import AdapterContext, BrokerUnavailable


class PendingAdapter:
    key: ClassVar[str] = "pending"

    def __init__(self, credentials: Mapping[str, str], *, paper: bool, context: AdapterContext) -> None:
        self.paper = paper

    def _unavailable(self, *args: object, **kwargs: object) -> NoReturn:
        raise BrokerUnavailable("This broker's integration is not implemented yet.")

    connect = balance = positions = place_order = cancel_order = get_order = _unavailable
    find_order = open_orders = fees = _unavailable

    def order_history(self, *, limit: int = 100) -> NoReturn:
        self._unavailable()

    def quotes(self, symbols: Sequence[str]) -> NoReturn:
        self._unavailable()

    def validate_symbol(self, symbol: str) -> NoReturn:
        self._unavailable()

    def close(self) -> None:
        return None
