"""The contract suite's Kraken: tests/simulators/kraken behind `KRAKEN_API_URL`, with keys made for it.

Each harness has its own simulator and its own API key (so no two tests share a rate counter),
and a wrong private key for that key as the bad credentials (Kraken answers EAPI:Invalid signature).
Fault `match`es are searched, regardless of case, in `METHOD /path` of Kraken's API, e.g.
`POST /0/private/AddOrder` (placing), `POST /0/private/CancelOrder`, `POST /0/private/BalanceEx`,
`POST /0/private/OpenOrders`, `GET /0/public/Ticker`.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from django.test import override_settings

from brokers.adapters.kraken.client import forget_markets
from tests.simulators.kraken import KrakenSimulator
from tests.simulators.kraken.auth import make_credentials


class KrakenHarness:
    key = "kraken"
    # Fault `match`es for the calls the suite names.
    calls = {
        "place": "AddOrder",
        "cancel": "CancelOrder",
        "balance": "BalanceEx",
    }
    paper = False  # Kraken has no paper environment
    symbol = "BTC/USD"
    qty = Decimal("0.01")  # about 300 USD of the simulator's 100,000
    unknown_symbol = "FOO/USD"

    def __init__(self) -> None:
        self.sim = KrakenSimulator()
        self.credentials = {"api_key": self.sim.api_key, "api_secret": self.sim.api_secret}
        self.bad_credentials = {"api_key": self.sim.api_key, "api_secret": make_credentials()[1]}

    def start(self) -> Iterator[None]:
        self.sim.start()
        try:
            with override_settings(KRAKEN_API_URL=self.sim.url):
                yield
        finally:
            self.sim.stop()
            forget_markets()

    def price(self, symbol: str) -> Decimal:
        return self.sim.price(symbol)

    def set_price(self, symbol: str, price: Decimal) -> None:
        self.sim.set_price(symbol, price)

    def fill(self, broker_order_id: str) -> None:
        self.sim.fill(broker_order_id)

    def fault(self, kind: str, *, match: str = "", times: int = 1) -> None:
        # Kraken's paths are /0/private/AddOrder, /0/public/Ticker: match regardless of case.
        self.sim.faults.add(kind, match=f"(?i){match}" if match else "", times=times)

    def fund(self, cash: Decimal) -> None:
        self.sim.fund(cash)
