"""Real market data end to end: `MARKET_DATA_SOURCE=equity=alpaca,crypto=kraken` (or coinbase) pointed
at the simulators, the quote poller run by a real Celery worker as beat schedules it, and a
subscribed `/ws/` socket of the real ASGI application receiving `watchlist:quote`.

Symbols are validated against each source's own instruments (not the paper market's), quotes
follow the simulators' markets, and a source that fails has its quotes republished `stale` while
the other asset class keeps flowing, fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from config.asgi import application
from tests.asyncio import run_async
from tests.brokers.contract.harness import Harness
from tests.e2e.brokers import Account, beat, broker_running, premium_account
from tests.e2e.conftest import celery_worker, db_turn
from watchlist import marketdata
from watchlist.tasks import quotes_poll

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

QUOTE_SECONDS = 5.0  # a cycle a second; a changed price is on the socket within a few
# Symbols each source lists and the paper market does not, and the other way round.
ONLY_AT_THE_SOURCE = {"alpaca": "GME", "kraken": "BTC/EUR", "coinbase": "BTC/EUR"}
ONLY_ON_PAPER = {"alpaca": "NVDA", "kraken": "XRP/USD", "coinbase": "XRP/USD"}


@contextlib.contextmanager
def _sources(crypto: str) -> Iterator[tuple[Harness, Harness]]:
    """Alpaca for equities and `crypto` for crypto, both simulated, with the poller running every second."""
    with broker_running("alpaca") as alpaca, broker_running(crypto) as exchange:
        setting = override_settings(
            MARKET_DATA_SOURCE=f"equity=alpaca,crypto={crypto}",
            ALPACA_DATA_KEY_ID=alpaca.sim.key_id,  # the operator's data key
            ALPACA_DATA_SECRET_KEY=alpaca.sim.secret_key,
        )
        with setting, _fresh_sources(), celery_worker(), beat(quotes_poll):
            yield alpaca, exchange


@contextlib.contextmanager
def _fresh_sources() -> Iterator[None]:
    """Sources are built once per process from the settings: build them from these, and forget them after."""
    marketdata._sources.cache_clear()
    marketdata._load.cache_clear()
    try:
        yield
    finally:
        marketdata._sources.cache_clear()
        marketdata._load.cache_clear()


def _watch(account: Account, symbol: str) -> Any:
    return account.api.post("/api/watchlist", {"symbol": symbol}, format="json")


class Quotes:
    """A subscribed socket's `watchlist:quote` messages, every one kept."""

    def __init__(self, socket: WebsocketCommunicator) -> None:
        self.socket = socket
        self.seen: list[dict[str, Any]] = []

    async def next(self, symbol: str, match: Callable[[dict[str, Any]], bool], *, what: str) -> dict[str, Any]:
        async def scan() -> dict[str, Any]:
            while True:
                message = await self.socket.receive_json_from(timeout=QUOTE_SECONDS)
                if message["event"] == "watchlist:quote":
                    self.seen.append(message["data"])
                    if message["data"]["symbol"] == symbol and match(message["data"]):
                        return message["data"]

        try:
            return await asyncio.wait_for(scan(), QUOTE_SECONDS)
        except TimeoutError:
            last = [q for q in self.seen if q["symbol"] == symbol][-1:]
            raise AssertionError(f"no {what} for {symbol} within {QUOTE_SECONDS}s; last: {last}") from None


async def _subscribed(account: Account, symbols: list[str]) -> Quotes:
    headers = [(b"authorization", f"Token {account.token}".encode()), (b"origin", b"http://127.0.0.1")]
    socket = WebsocketCommunicator(application, "/ws/", headers=headers)
    with db_turn():  # the handshake reads the token while the worker takes turns at SQLite
        connected, _ = await socket.connect(timeout=10)
        assert connected
        assert (await socket.receive_json_from(timeout=5))["event"] == "ready"
    await socket.send_json_to({"action": "subscribe", "symbols": symbols})
    while (message := await socket.receive_json_from(timeout=5))["event"] != "subscribed":
        pass
    assert sorted(message["data"]["symbols"]) == sorted(symbols)
    return Quotes(socket)


def _at(price: Decimal) -> Callable[[dict[str, Any]], bool]:
    """A fresh quote at `price` (the middle of the simulator's book)."""
    return lambda q: not q["stale"] and Decimal(q["bid"]) <= price <= Decimal(q["ask"]) and Decimal(q["price"]) == price


@pytest.mark.parametrize("crypto", ["kraken", "coinbase"])
def test_the_watchlist_streams_quotes_from_the_configured_sources_and_a_failing_one_goes_stale(crypto, not_eager):
    pair = "BTC/USD"
    with _sources(crypto) as (alpaca, exchange):
        account = premium_account()
        for refused in ("ZZZZ", ONLY_ON_PAPER["alpaca"], ONLY_ON_PAPER[crypto], "FOO/USD", "OLDCO"):
            answer = _watch(account, refused)
            assert answer.status_code == 400, (refused, answer.content)
            assert answer.json()["error"]["code"] == "invalid" and "symbol" in answer.json()["error"]["fields"]
        only_at_sources = [ONLY_AT_THE_SOURCE[source] for source in ("alpaca", crypto)]
        for typed, canonical in (("aapl", "AAPL"), ("btc/usd", pair), *((s, s) for s in only_at_sources)):
            answer = _watch(account, typed)
            assert (answer.status_code, answer.json()["symbol"]) == (201, canonical), answer.content

        async def scenario() -> None:
            quotes = await _subscribed(account, ["AAPL", pair])
            first = {
                "AAPL": await quotes.next("AAPL", _at(alpaca.price("AAPL")), what="a quote from Alpaca"),
                pair: await quotes.next(pair, _at(exchange.price(pair)), what=f"a quote from {crypto}"),
            }
            assert {s: q["source"] for s, q in first.items()} == {"AAPL": "alpaca", pair: crypto}

            # The markets move: the socket follows both.
            moved = {"AAPL": alpaca.price("AAPL") + 3, pair: exchange.price(pair) + 500}
            alpaca.set_price("AAPL", moved["AAPL"])
            exchange.set_price(pair, moved[pair])
            await quotes.next("AAPL", _at(moved["AAPL"]), what="the moved price")
            await quotes.next(pair, _at(moved[pair]), what="the moved price")
            assert not [q for q in quotes.seen if q["stale"]], "no source failed, yet a quote went stale"

            # Alpaca's data API fails from now on: AAPL's last quote is republished stale, crypto keeps flowing.
            alpaca.sim.faults.add("server_error", match="/v2/stocks/", times=10_000, status=500)
            stale = await quotes.next("AAPL", lambda q: q["stale"], what="a stale quote")
            last = [q for q in quotes.seen if q["symbol"] == "AAPL" and not q["stale"]][-1]
            assert stale == {**last, "stale": True}  # the last figures, marked
            exchange.set_price(pair, moved[pair] + 250)
            await quotes.next(pair, _at(moved[pair] + 250), what="a fresh crypto quote while Alpaca is down")
            listed = await asyncio.to_thread(_listed, account)  # a page loaded now shows the same
            assert (listed["AAPL"]["stale"], listed[pair]["stale"]) == (True, False), listed

            alpaca.sim.faults.clear()  # Alpaca is back: fresh again
            alpaca.set_price("AAPL", moved["AAPL"] + 1)
            await quotes.next("AAPL", _at(moved["AAPL"] + 1), what="a fresh quote after the outage")
            await quotes.socket.disconnect()

        run_async(scenario())
        listed = _listed(account)
        assert (listed["AAPL"]["stale"], listed[pair]["stale"]) == (False, False), listed
        assert Decimal(listed["AAPL"]["price"]) == alpaca.price("AAPL")


def _listed(account: Account) -> dict[str, dict[str, Any]]:
    """`GET /api/watchlist`: each symbol's last quote."""
    return {item["symbol"]: item["quote"] for item in account.api.get("/api/watchlist").json()}
