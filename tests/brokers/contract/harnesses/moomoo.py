"""Moomoo for the contract suite: a live (unlocked) US account on the OpenD simulator.

OpenD is addressed by host and port in the connection's credentials, so no setting changes; the
trade password is made up per run. Faults match OpenD protocol names ("Trd_PlaceOrder",
"Trd_GetFunds", "Qot_GetSecuritySnapshot"); without `match` they hit the next request the adapter
makes (futu asks for the account list before each trade call).
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from decimal import Decimal

from tests.simulators.opend import OpenDSimulator


class MoomooHarness:
    key = "moomoo"
    # Fault `match`es for the calls the suite names.
    calls = {
        "place": "Trd_PlaceOrder",
        "cancel": "Trd_ModifyOrder",
        "balance": "Trd_GetFunds",
    }
    paper = False
    symbol = "AAPL"
    qty = Decimal(1)
    unknown_symbol = "ZZZZQ"

    def __init__(self) -> None:
        self.password = f"{secrets.randbelow(10**6):06d}"
        self.sim = OpenDSimulator(trade_password=self.password)
        self.port = _free_port()  # known before start(): OpenD is named in the credentials

    @property
    def credentials(self) -> dict[str, str]:
        return {"host": "127.0.0.1", "port": str(self.port), "trade_password": self.password, "market": "US"}

    @property
    def bad_credentials(self) -> dict[str, str]:
        wrong = f"{(int(self.password) + 1) % 10**6:06d}"
        return {**self.credentials, "trade_password": wrong}

    def start(self) -> Iterator[None]:
        self.sim.start(self.port)
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
        self.sim.faults.add(kind, match=match, times=times)

    def fund(self, cash: Decimal) -> None:
        self.sim.fund(cash, market="US", paper=self.paper)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


Harness = MoomooHarness
