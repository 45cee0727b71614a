"""The contract suite's paper broker: its own simulated market, moved by pinning prices.

The paper broker is in-process: `set_price` pins the market's price, `fill` pins it through the
order's limit or stop and runs the matching pass (the broker's stream of changes), and faults are
armed on the adapter's edge (brokers/adapters/paper/faults.py). Fault `match`es are adapter method names.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from brokers.adapters.paper.faults import fault_arm
from brokers.adapters.paper.market import market_quote, pin_price
from brokers.models import PaperAccount, PaperOrder

# How far past a limit or stop the price is pinned so the order is certainly due.
_THROUGH = Decimal("0.02")


class PaperHarness:
    key = "paper"
    calls = {"place": "^place_order$", "cancel": "^cancel_order$", "balance": "^balance$"}
    paper = True
    credentials: dict[str, str] = {}
    bad_credentials: dict[str, str] = {}  # the paper broker has no credentials to refuse
    symbol = "AAPL"
    qty = Decimal(1)
    unknown_symbol = "ZZZZ"

    def start(self) -> Iterator[None]:
        yield

    def price(self, symbol: str) -> Decimal:
        return market_quote(symbol).price

    def set_price(self, symbol: str, price: Decimal) -> None:
        pin_price(symbol, price)

    def fill(self, broker_order_id: str) -> None:
        from brokers.tasks import paper_match

        order = PaperOrder.objects.get(pk=broker_order_id)
        reference = order.limit_price or order.stop_price or self.price(order.symbol)
        rising = (order.side == "buy") == (order.limit_price is None)  # a buy limit needs the price down
        pin_price(order.symbol, (reference * (1 + _THROUGH if rising else 1 - _THROUGH)).quantize(Decimal("0.01")))
        paper_match()

    def fault(self, kind: str, *, match: str = "", times: int = 1) -> None:
        fault_arm(kind, match=match, times=times)

    def fund(self, cash: Decimal) -> None:
        PaperAccount.objects.update(cash=cash)
