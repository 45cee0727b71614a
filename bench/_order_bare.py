"""The order benchmark's baseline: a bare loop calling the SDK's own order method against the same simulator.

`python -m bench._order_bare alpaca|kraken SPEC OUT`. SPEC (JSON): `url`, `keys` ([[key, secret], ...],
accounts no benchmark user has), `count`, `gap`, `warmup`. The same order as the API benchmark
sends (a market buy of 1 AAPL; of 0.0001 BTC/USD), one at a time with `gap` seconds between calls:

- alpaca: alpaca-py `TradingClient.submit_order(MarketOrderRequest(...))`, one client kept (as
  our pooled adapter keeps it), `url_override` to the simulator;
- kraken: ccxt `kraken.create_order(...)` with markets loaded once and `clientOrderId`, one
  client per key, round robin (the simulator's per-pair trading counter of one key would refuse
  a long loop: Kraken's +1 per order, -1 per second), a nonce of its own per key.

Nothing else runs here: no Django, no limiter, no database. OUT gets `[[started, seconds, client_order_id], ...]`
(`started`: time.monotonic(), the clock the simulators stamp arrivals with).
"""

from __future__ import annotations

import itertools
import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _alpaca(spec: dict[str, Any]) -> Callable[[str], object]:
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    key, secret = spec["keys"][0]
    client = TradingClient(key, secret, paper=True, url_override=spec["url"])

    def submit(client_order_id: str) -> object:
        request = MarketOrderRequest(
            symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, client_order_id=client_order_id
        )
        return client.submit_order(request)

    return submit


def _kraken(spec: dict[str, Any]) -> Callable[[str], object]:
    import ccxt

    clients = []
    for key, secret in spec["keys"]:
        nonces = itertools.count(time.time_ns() // 1000)
        exchange = ccxt.kraken(
            {
                "apiKey": key,
                "secret": secret,
                "enableRateLimit": False,
                "urls": {"api": {"public": spec["url"], "private": spec["url"]}},
                "nonce": lambda nonces=nonces: next(nonces),
            }
        )
        if clients:
            exchange.set_markets_from_exchange(clients[0])
        else:
            exchange.load_markets()
        clients.append(exchange)
    turn = itertools.cycle(clients)

    def submit(client_order_id: str) -> object:
        return next(turn).create_order("BTC/USD", "market", "buy", "0.0001", None, {"clientOrderId": client_order_id})

    return submit


def main(argv: list[str]) -> int:
    kind, spec = argv[0], json.loads(Path(argv[1]).read_text())
    submit = _alpaca(spec) if kind == "alpaca" else _kraken(spec)
    for _ in range(spec["warmup"]):
        submit(uuid.uuid4().hex)
    calls = []
    for _ in range(spec["count"]):
        client_order_id = uuid.uuid4().hex
        started = time.monotonic()
        submit(client_order_id)
        calls.append([started, time.monotonic() - started, client_order_id])
        time.sleep(spec["gap"])
    Path(argv[2]).write_text(json.dumps(calls))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
