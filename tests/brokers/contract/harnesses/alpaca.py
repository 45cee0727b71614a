"""The contract suite's harness for Alpaca: tests/simulators/alpaca behind ALPACA_API_URL/ALPACA_DATA_URL.

Fault `match`es are searched in `METHOD /path` of Alpaca's API, e.g. `POST /v2/orders` (placing),
`DELETE /v2/orders/` (canceling), `GET /v2/account`, `GET /v2/stocks/quotes/latest`.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from django.test import override_settings

from tests.simulators.alpaca import AlpacaSimulator


class AlpacaHarness:
    key = "alpaca"
    # Fault `match`es for the calls the suite names.
    calls = {
        "place": "^POST /v2/orders$",
        "cancel": "^DELETE /v2/orders/",
        "balance": "^GET /v2/account$",
    }
    paper = True
    symbol = "AAPL"
    qty = Decimal("1")
    unknown_symbol = "ZZZZ"

    def __init__(self) -> None:
        self.sim = AlpacaSimulator()
        self.credentials = {"api_key_id": self.sim.key_id, "api_secret_key": self.sim.secret_key}
        self.bad_credentials = {"api_key_id": self.sim.key_id, "api_secret_key": "not-" + self.sim.secret_key}

    def start(self) -> Iterator[None]:
        self.sim.start()
        try:
            with override_settings(ALPACA_API_URL=self.sim.url, ALPACA_DATA_URL=self.sim.url):
                yield
        finally:
            self.sim.stop()

    def price(self, symbol: str) -> Decimal:
        return self.sim.price(symbol)

    def set_price(self, symbol: str, price: Decimal) -> None:
        self.sim.set_price(symbol, price)

    def fill(self, broker_order_id: str) -> None:
        self.sim.fill(broker_order_id)

    def fault(self, kind: str, *, match: str = "", times: int = 1) -> None:
        self.sim.faults.add(kind, match=match, times=times)

    def fund(self, cash: Decimal) -> None:
        self.sim.fund(cash)
