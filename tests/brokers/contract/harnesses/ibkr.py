"""The contract-suite harness for Interactive Brokers: the TWS API simulator on a loopback port.

IB has no keys: a connection is a host, a port, an optional client id and an optional account.
The "bad credentials" the gateway refuses are an account its login does not manage (the adapter
raises AuthenticationFailed). Broker order ids are IB's permIds.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from tests.simulators.tws import TwsSimulator

# A hung gateway is held this long, then the socket drops: the call fails fast instead of
# waiting out the adapter's whole timeout.
TIMEOUT_HOLD_SECONDS = 1.0


class IbkrHarness:
    key = "ibkr"
    # Fault `match`es for the calls the suite names.
    calls = {
        "place": "placeOrder",
        "cancel": "cancelOrder",
        "balance": "reqAccountSummary",
    }
    paper = True
    symbol = "AAPL"
    qty = Decimal("2")
    unknown_symbol = "ZZZZQ"

    def __init__(self) -> None:
        self.sim = TwsSimulator()
        self._port = 0

    @property
    def credentials(self) -> dict[str, str]:
        return {"host": "127.0.0.1", "port": str(self._port)}

    @property
    def bad_credentials(self) -> dict[str, str]:
        return {**self.credentials, "account": "DU0000000"}

    def start(self) -> Iterator[None]:
        self.sim.start()
        self._port = self.sim.port
        try:
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
        """`match` is a TWS API request name (placeOrder, reqContractDetails, reqCurrentTime …)."""
        seconds = TIMEOUT_HOLD_SECONDS if kind == "timeout" else 0.0
        self.sim.faults.add(kind, match=match, times=times, seconds=seconds)

    def fund(self, cash: Decimal) -> None:
        self.sim.fund(cash)
