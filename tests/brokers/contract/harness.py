"""What each broker supplies to the contract suite: a harness over its simulator (or, for paper, its market).

The suite (tests/brokers/contract/test_*.py) is parametrised over every registry broker and
drives the real adapter, built by the registry from credentials stored through the vault,
through the project's services. A broker's harness only knows how to stand the broker up,
which credentials it accepts, and how to make the broker do things a test needs (move a
price, fill a resting order, inject a fault). Harnesses are listed by dotted path in
`tests/brokers/contract/conftest.py::HARNESSES`; a registry broker without one fails the suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Protocol, runtime_checkable


@runtime_checkable
class Harness(Protocol):
    key: str  # the registry key
    paper: bool  # how the connection is configured (paper account or live)
    credentials: dict[str, str]  # accepted by the simulator
    bad_credentials: dict[str, str]  # refused by it as the broker refuses wrong keys
    symbol: str  # a canonical symbol the broker trades and quotes (AAPL, BTC/USD)
    qty: Decimal  # a quantity of `symbol` the account can afford several times over
    unknown_symbol: str  # a symbol the broker does not list
    calls: dict[str, str]  # fault `match`es of the calls "place", "cancel" and "balance"

    def start(self) -> Iterator[None]:
        """Start the simulator and point the settings at it (a generator used as a fixture body)."""
        ...

    def price(self, symbol: str) -> Decimal:
        """The simulator's current price of `symbol`."""
        ...

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the market: quotes and the matching of resting orders follow."""
        ...

    def fill(self, broker_order_id: str) -> None:
        """Fill a resting order at the broker now (at its limit or the market), as the market would."""
        ...

    def fault(self, kind: str, *, match: str = "", times: int = 1) -> None:
        """Inject a fault (tests/simulators/base.py FAULT_KINDS) into the next matching broker calls."""
        ...

    def fund(self, cash: Decimal) -> None:
        """Set the account's cash (to provoke insufficient funds)."""
        ...
