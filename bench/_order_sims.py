"""The order benchmark's broker simulators, each in a process of its own (so they never share a GIL with
what is measured): `python -m bench._order_sims alpaca|kraken ACCOUNTS INFO_FILE`.

The simulators are tests/simulators' own, unmodified:

- Alpaca: one `AlpacaSimulator` per account behind one loopback port, chosen by the request's
  `APCA-API-KEY-ID` (Alpaca counts its 200 requests/min per account, and our limiter counts by the
  account number `GET /v2/account` returns, so each benchmark user needs an account of its own).
- Kraken: one `KrakenSimulator` with one API key per account (Kraken's counters are per key).

Every account is funded far beyond what the benchmark spends. Each order is stamped on arrival
(`time.monotonic()`, CLOCK_MONOTONIC: one clock for every process of the machine) by its client
order id; `GET /_bench/receipts` returns the stamps and `GET /_bench/calls` how many requests each
endpoint answered (paths outside both brokers' APIs, which no SDK calls). Once listening, the
process writes `{"url", "keys": [[key, secret], ...]}` to INFO_FILE and serves until SIGTERM.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl

from tests.simulators.alpaca import AlpacaSimulator
from tests.simulators.base import HttpSimulator, Request, Response
from tests.simulators.kraken import KrakenSimulator

CASH = Decimal("1000000000000")
_IDS = re.compile(r"/[0-9a-fA-F-]{20,}|/O[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{6}")


class _Stamps:
    """Arrival stamps of orders and a count of requests per endpoint (thread-safe enough: appends)."""

    def __init__(self) -> None:
        self.receipts: list[tuple[float, str]] = []
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, request: Request) -> None:
        with self._lock:
            self.calls[f"{request.method} {_IDS.sub('/{id}', request.path)}"] += 1

    def answer(self, request: Request) -> Response | None:
        if request.path == "/_bench/receipts":
            return Response(200, {"receipts": self.receipts})
        if request.path == "/_bench/calls":
            return Response(200, {"calls": dict(self.calls)})
        return None


class AlpacaAccounts(HttpSimulator):
    """Several Alpaca accounts on one port, each its own `AlpacaSimulator` (book, keys, account number)."""

    name = "alpaca-accounts"

    def __init__(self, count: int) -> None:
        super().__init__()
        self.stamps = _Stamps()
        self.accounts: dict[str, AlpacaSimulator] = {}
        for _ in range(count):
            account = AlpacaSimulator(cash=CASH)
            self.accounts[account.key_id] = account

    def key_pairs(self) -> list[tuple[str, str]]:
        return [(key, account.secret_key) for key, account in self.accounts.items()]

    def handle(self, request: Request) -> Response:
        if request.method == "POST" and request.path == "/v2/orders":
            self.stamps.receipts.append((time.monotonic(), (request.json() or {}).get("client_order_id", "")))
        bench = self.stamps.answer(request)
        if bench is not None:
            return bench
        self.stamps.count(request)
        account = self.accounts.get(request.headers.get("apca-api-key-id", ""))
        if account is None:
            return Response(401, {"code": 40110000, "message": "request is not authorized"})
        answer: Response = account.handle(request)
        account.requests.clear()  # nobody asserts on them here: keep memory flat over a long run
        return answer


class KrakenAccounts(KrakenSimulator):
    """Kraken with `count` API keys (each its own nonces and counters), funded in USD."""

    name = "kraken-accounts"

    def __init__(self, count: int) -> None:
        super().__init__()
        self.stamps = _Stamps()
        self._bench_keys = [(self.api_key, self.api_secret), *(self.add_key() for _ in range(count - 1))]
        self.fund(CASH)

    def key_pairs(self) -> list[tuple[str, str]]:
        return list(self._bench_keys)

    def handle(self, request: Request) -> Response:
        if request.method == "POST" and request.path == "/0/private/AddOrder":
            fields = dict(parse_qsl(request.body.decode("utf-8", "replace")))
            self.stamps.receipts.append((time.monotonic(), fields.get("cl_ord_id", "")))
        bench = self.stamps.answer(request)
        if bench is not None:
            return bench
        self.stamps.count(request)
        answer = super().handle(request)
        self.requests.clear()
        return answer


def main(argv: list[str]) -> int:
    kind, count, info = argv[0], int(argv[1]), Path(argv[2])
    sim: AlpacaAccounts | KrakenAccounts = AlpacaAccounts(count) if kind == "alpaca" else KrakenAccounts(count)
    sim.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    partial = info.with_suffix(".partial")
    partial.write_text(json.dumps({"url": sim.url, "keys": sim.key_pairs()}))
    partial.rename(info)  # whole or absent: the parent polls for it
    stopped.wait()
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
