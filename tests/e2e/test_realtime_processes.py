"""Real time across real processes: Daphne and uvicorn (as production runs it) sharing Redis;
through uvicorn, a burst of quotes written as runs, and a socket that stops reading while
another keeps up; a reconnect storm."""

import asyncio
import contextlib
import json

import httpx
import pytest
import websockets

from realtime.quotes import quotes_publish
from tests.processes import app_database, asgi_server, wait_for
from tests.realtime.test_consumer import _quote

pytestmark = pytest.mark.e2e


async def _connect(base: str, key: str, **options):
    ws = await websockets.connect(
        base.replace("http", "ws") + "/ws/",
        additional_headers={"Authorization": f"Token {key}"},
        open_timeout=60,
        **options,
    )
    ready = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert ready["event"] == "ready"
    return ws


async def _subscribe(ws, *symbols):
    await ws.send(json.dumps({"action": "subscribe", "symbols": list(symbols)}))
    reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert reply["event"] == "subscribed"


async def _next_quote(ws, timeout=10):
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["event"] == "watchlist:quote":
            return message["data"]


@pytest.fixture(scope="module")
def uvicorn_app(tmp_path_factory):
    """One uvicorn server, run as production runs it, and an API token; shared by this module's tests."""
    with app_database(tmp_path_factory.mktemp("uvicorn")) as (env, key), asgi_server(env, server="uvicorn") as base:
        yield base, key


def _health(base: str) -> dict:
    return httpx.get(f"{base}/health", timeout=10).json()["websocket"]


def test_a_quote_reaches_subscribers_on_two_processes_and_stats_are_summed(tmp_path):
    with (
        app_database(tmp_path) as (env, key),
        asgi_server(env) as one,
        asgi_server(env, server="uvicorn") as two,
    ):

        async def scenario():
            # Other processes (this test run's own in-process sockets) may count too: measure the change.
            base = await asyncio.to_thread(_health, one)
            a, b, other = await _connect(one, key), await _connect(two, key), await _connect(two, key)
            await _subscribe(a, "AAPL")
            await _subscribe(b, "AAPL")
            await _subscribe(other, "MSFT")
            await asyncio.sleep(1.5)  # each server's quote subscription is live
            await asyncio.to_thread(quotes_publish, [_quote("AAPL", "321.5")])
            got = await asyncio.gather(_next_quote(a), _next_quote(b))
            assert [q["price"] for q in got] == ["321.5", "321.5"]
            with pytest.raises(TimeoutError):
                await _next_quote(other, timeout=1)

            stats = await asyncio.to_thread(
                wait_for,
                lambda: (s := _health(one))["activeConnections"] == base["activeConnections"] + 3 and s,
                timeout=10,
                what="3 more active",
            )
            assert stats["uniqueUsers"] >= 1 and stats["totalConnections"] >= base["totalConnections"] + 3
            # The hubs' delivered quote frames are summed too: one on each server.
            await asyncio.to_thread(
                wait_for,
                lambda: _health(two)["quoteFramesSent"] >= base["quoteFramesSent"] + 2,
                timeout=10,
                what="2 more quote frames sent",
            )
            await other.close()
            stats = await asyncio.to_thread(
                wait_for,
                lambda: (s := _health(two))["activeConnections"] == base["activeConnections"] + 2 and s,
                timeout=10,
                what="one fewer active",
            )
            assert stats["totalConnections"] >= base["totalConnections"] + 3  # accepted since start, not open now
            await a.close()
            await b.close()

        asyncio.run(scenario())


def test_uvicorn_delivers_a_burst_of_quotes_whole_and_in_order_and_still_closes_cleanly(uvicorn_app):
    from brokers.adapters.paper.universe import symbols

    watched = list(symbols()[:20])
    base, key = uvicorn_app

    async def scenario():
        sockets = [await _connect(base, key) for _ in range(3)]
        for ws in sockets:
            await _subscribe(ws, *watched)
        await asyncio.sleep(1.5)  # the server's quote subscription is live
        for ws in sockets:  # skip the last known quotes sent on subscribing, if any
            with contextlib.suppress(TimeoutError):
                while True:
                    await _next_quote(ws, timeout=0.3)
        # One publish of 20 quotes, as a poll makes: each socket's 20 frames go out as one run.
        burst = [_quote(symbol, f"{100 + i}.25") for i, symbol in enumerate(watched)]
        await asyncio.to_thread(quotes_publish, burst)
        for ws in sockets:
            got = [await _next_quote(ws) for _ in watched]
            assert [(q["symbol"], q["price"]) for q in got] == [(q.symbol, str(q.price)) for q in burst]
        await sockets[0].send(json.dumps({"action": "ping"}))
        assert json.loads(await asyncio.wait_for(sockets[0].recv(), 10))["event"] == "pong"
        for ws in sockets:
            await ws.close()
            assert ws.close_code == 1000
        # A refused socket still gets its close code after the accept: a close flushes first.
        anonymous = await websockets.connect(base.replace("http", "ws") + "/ws/", open_timeout=30)
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(anonymous.recv(), 10)
        assert anonymous.close_code == 4401

    asyncio.run(scenario())


def test_a_socket_that_stops_reading_delays_nobody_and_then_gets_the_newest_quotes(uvicorn_app):
    from decimal import Decimal

    from brokers.adapters.paper.universe import symbols

    watched = list(symbols()[:20])
    bursts = 1500  # ~8 MB of frames: more than the kernel buffers of a socket nobody reads

    def burst(n: int):
        return [_quote(symbol, f"{1000 + n}.{i:02d}") for i, symbol in enumerate(watched)]

    final = {q.symbol: q.price for q in burst(bursts - 1)}
    base, key = uvicorn_app

    async def scenario():
        fast = await _connect(base, key)
        # max_queue=1: the client library stops reading the socket once a message waits.
        slow = await _connect(base, key, max_queue=1)
        for ws in (fast, slow):
            await _subscribe(ws, *watched)
        await asyncio.sleep(1.5)  # the server's quote subscription is live
        before = await asyncio.to_thread(_health, base)

        def publish_all():
            for n in range(bursts):
                quotes_publish(burst(n))

        publishing = asyncio.ensure_future(asyncio.to_thread(publish_all))
        latest: dict[str, Decimal] = {}
        while latest != final:  # the reading socket keeps up while the other one is stuck
            quote = await _next_quote(fast, timeout=30)
            latest[quote["symbol"]] = Decimal(quote["price"])
        await publishing
        # The stuck socket was paused by flow control: its frames queued and were coalesced.
        await asyncio.to_thread(
            wait_for,
            lambda: _health(base)["quoteFramesCoalesced"] > before["quoteFramesCoalesced"],
            timeout=15,
            what="coalesced frames",
        )
        seen: dict[str, Decimal] = {}
        with contextlib.suppress(TimeoutError):
            while True:  # reading again: never an older quote after a newer one, the newest last
                quote = await _next_quote(slow, timeout=3)
                price = Decimal(quote["price"])
                assert price > seen.get(quote["symbol"], Decimal(0))
                seen[quote["symbol"]] = price
        assert seen == final
        await fast.close()
        await slow.close()

    asyncio.run(scenario())


def test_a_reconnect_storm_of_1000_clients_all_succeeds(tmp_path):
    with app_database(tmp_path) as (env, key), asgi_server(env) as base:

        async def scenario():
            before = (await asyncio.to_thread(_health, base))["activeConnections"]
            sockets = await asyncio.gather(*(_connect(base, key) for _ in range(1000)))
            assert len(sockets) == 1000
            await asyncio.to_thread(
                wait_for,
                lambda: _health(base)["activeConnections"] == before + 1000,
                timeout=20,
                what="1000 more active",
            )
            await asyncio.gather(*(ws.close() for ws in sockets))

        asyncio.run(scenario())
