"""The contract suite's Coinbase: the Advanced Trade simulator, driven through ccxt's `coinbase`."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from django.test import override_settings

from tests.simulators.coinbase import CoinbaseSimulator, ec_key

# Each adapter call gets BROKER_TIMEOUT_SECONDS / 3 per request: 1 s here, so a `timeout` fault
# (held TIMEOUT_HOLD seconds) is noticed quickly.
BROKER_TIMEOUT = 3.0
TIMEOUT_HOLD = 1.5


class CoinbaseHarness:
    key = "coinbase"
    # Fault `match`es for the calls the suite names.
    calls = {
        "place": "^POST /api/v3/brokerage/orders$",
        "cancel": "batch_cancel",
        "balance": "^GET /api/v3/brokerage/accounts",
    }
    paper = False  # Coinbase has no paper trading
    symbol = "BTC/USD"
    qty = Decimal("0.01")  # about 600 USD of a 100,000 USD account
    unknown_symbol = "XYZ/USD"

    def __init__(self) -> None:
        self.sim = CoinbaseSimulator()
        self.credentials = self.sim.key.credentials  # generated now, never committed
        self.bad_credentials = ec_key().credentials  # well formed, unknown to Coinbase: 401

    def start(self) -> Iterator[None]:
        self.sim.start()
        try:
            with override_settings(COINBASE_API_URL=self.sim.url, BROKER_TIMEOUT_SECONDS=BROKER_TIMEOUT):
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
        self.sim.faults.add(kind, match=match, times=times, seconds=TIMEOUT_HOLD)

    def fund(self, cash: Decimal) -> None:
        self.sim.fund(cash)
