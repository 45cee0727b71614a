"""The /ws/ protocol on the real ASGI app and the real Redis channel layer and pub/sub."""

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from channels.testing import WebsocketCommunicator

from accounts.services import api_token_create
from brokers.adapters.base import Quote
from config.asgi import application
from realtime import consumers, events
from realtime.hub import hub
from realtime.publish import publish_to_user
from realtime.quotes import quotes_publish
from realtime.stats import tracker
from tests.asyncio import run_async

pytestmark = pytest.mark.django_db(transaction=True)


def _quote(symbol: str, price: str) -> Quote:
    p = Decimal(price)
    return Quote(
        symbol=symbol,
        price=p,
        bid=p - 1,
        ask=p + 1,
        change=Decimal("1.5"),
        change_pct=Decimal("0.8"),
        volume=Decimal(1000),
        as_of=datetime.now(UTC),
        source="paper",
    )


async def _open(user) -> WebsocketCommunicator:
    key = (await asyncio.to_thread(api_token_create, user=user)).key
    comm = WebsocketCommunicator(application, "/ws/", headers=[(b"authorization", f"Token {key}".encode())])
    connected, _ = await comm.connect()
    assert connected
    assert (await comm.receive_json_from(timeout=5))["event"] == events.READY
    return comm


async def _send(comm, payload) -> dict:
    await comm.send_to(text_data=payload if isinstance(payload, str) else json.dumps(payload))
    return await comm.receive_json_from(timeout=5)


async def _wait_for_hub():
    assert await asyncio.to_thread(hub.subscribed.wait, 5)  # the subscription starts in its thread


def test_it_answers_ping_and_keeps_the_socket_open_after_bad_messages(user):
    async def scenario():
        comm = await _open(user)
        for bad in ("not json", "[1, 2]", '"text"', '{"action": "dance"}', "{}"):
            reply = await _send(comm, bad)
            assert reply["event"] == "error" and reply["data"]["code"] == "bad_request", bad
        pong = await _send(comm, {"action": "ping"})
        assert pong["event"] == "pong" and pong["ts"].endswith("Z") and pong["data"] == {}
        await comm.disconnect()

    run_async(scenario())


def test_it_subscribes_sends_last_quotes_and_unsubscribes(user):
    quotes_publish([_quote("AAPL", "200.00")])

    async def scenario():
        comm = await _open(user)
        reply = await _send(comm, {"action": "subscribe", "symbols": ["aapl", "BTC/USD", "AAPL"]})
        assert reply == {**reply, "event": "subscribed", "data": {"symbols": ["AAPL", "BTC/USD"]}}
        last = await comm.receive_json_from(timeout=5)
        assert last["event"] == "watchlist:quote" and last["data"]["symbol"] == "AAPL"
        assert last["data"]["price"] == "200" and last["data"]["bid"] == "199"
        assert await comm.receive_nothing(timeout=0.3)  # BTC/USD has no quote yet
        reply = await _send(comm, {"action": "unsubscribe", "symbols": ["AAPL"]})
        assert reply["event"] == "unsubscribed" and reply["data"] == {"symbols": ["BTC/USD"]}
        await comm.disconnect()

    run_async(scenario())


def test_an_unknown_symbol_refuses_the_whole_subscription(user):
    async def scenario():
        comm = await _open(user)
        reply = await _send(comm, {"action": "subscribe", "symbols": ["AAPL", "NOPE123"]})
        assert reply["event"] == "error" and "NOPE123" in reply["data"]["message"]
        reply = await _send(comm, {"action": "subscribe", "symbols": ["MSFT"]})
        assert reply["data"]["symbols"] == ["MSFT"]
        await comm.disconnect()

    run_async(scenario())


def test_it_caps_symbols_per_connection(user, monkeypatch):
    monkeypatch.setattr(consumers, "MAX_SYMBOLS", 2)

    async def scenario():
        comm = await _open(user)
        assert (await _send(comm, {"action": "subscribe", "symbols": ["AAPL", "MSFT"]}))["event"] == "subscribed"
        reply = await _send(comm, {"action": "subscribe", "symbols": ["NVDA"]})
        assert reply["event"] == "error" and "At most 2" in reply["data"]["message"]
        reply = await _send(comm, {"action": "subscribe", "symbols": ["AAPL"] * 201})
        assert reply["event"] == "error" and "200" in reply["data"]["message"]
        await comm.disconnect()

    run_async(scenario())


def test_a_frame_over_64_kib_closes_the_socket_with_1009(user):
    async def scenario():
        comm = await _open(user)
        await comm.send_to(text_data=json.dumps({"action": "ping", "pad": "x" * 70_000}))
        assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 1009}

    run_async(scenario())


def test_quotes_reach_subscribers_only(make_user):
    a, b = make_user(), make_user()

    async def scenario():
        sub, other = await _open(a), await _open(b)
        await _send(sub, {"action": "subscribe", "symbols": ["AAPL"]})
        await _send(other, {"action": "subscribe", "symbols": ["MSFT"]})
        await _wait_for_hub()
        await asyncio.to_thread(quotes_publish, [_quote("AAPL", "201.25")])
        message = await sub.receive_json_from(timeout=5)
        assert message["event"] == "watchlist:quote" and message["data"]["price"] == "201.25"
        assert await other.receive_nothing(timeout=0.5)
        await sub.disconnect()
        await other.disconnect()

    run_async(scenario())


def test_a_waiting_older_quote_is_replaced_by_a_newer_one(user):
    from realtime.hub import Outbox

    async def scenario():
        sent: list[str] = []
        gate = asyncio.Event()

        async def slow_send(message):
            await gate.wait()
            sent.append(json.loads(message["text"])["data"]["price"])

        outbox = Outbox(slow_send)
        outbox.offer("AAPL", json.dumps(events.envelope("watchlist:quote", {"price": "1"})))
        await asyncio.sleep(0.01)  # the writer took "1" and is blocked on the socket
        for price in ("2", "3", "4"):
            outbox.offer("AAPL", json.dumps(events.envelope("watchlist:quote", {"price": price})))
        gate.set()
        await asyncio.sleep(0.05)
        assert sent == ["1", "4"] and outbox.coalesced == 2
        outbox.close()

    run_async(scenario())


def test_an_idle_socket_is_written_at_once_and_a_busy_one_queues_in_order(user):
    from realtime.hub import Outbox

    def frame(price: str) -> str:
        return json.dumps(events.envelope("watchlist:quote", {"price": price}))

    async def scenario():
        written: list[tuple[str, str]] = []
        paused = [False]  # the server's flow control, as SEND_NOWAIT sees it
        gate = asyncio.Event()

        def send_nowait(text: str) -> bool:
            if paused[0]:
                return False
            written.append(("now", json.loads(text)["data"]["price"]))
            return True

        async def send(message):
            await gate.wait()
            written.append(("task", json.loads(message["text"])["data"]["price"]))

        outbox = Outbox(send, send_nowait=send_nowait)
        outbox.offer("AAPL", frame("1"))
        assert written == [("now", "1")]  # idle: written at once, no task switch
        paused[0] = True
        outbox.offer("AAPL", frame("2"))
        outbox.offer("MSFT", frame("m1"))
        paused[0] = False
        outbox.offer("AAPL", frame("3"))  # frames are waiting: this one queues too, replacing "2"
        await asyncio.sleep(0.01)  # the task took "m1" and is blocked in `send`
        outbox.offer("TSLA", frame("t"))  # the task is writing: queued behind it
        gate.set()
        await asyncio.sleep(0.05)
        assert written == [("now", "1"), ("task", "m1"), ("task", "3"), ("task", "t")]
        assert outbox.coalesced == 1 and outbox.sent == 4
        outbox.offer("AAPL", frame("4"))
        assert written[-1] == ("now", "4")  # idle again
        outbox.close()

    run_async(scenario())


def test_user_events_reach_that_user_only(make_user):
    a, b = make_user(), make_user()

    async def scenario():
        sock_a, sock_b = await _open(a), await _open(b)
        await asyncio.to_thread(publish_to_user, a.pk, events.TRADE_EXECUTED, {"symbol": "AAPL"})
        message = await sock_a.receive_json_from(timeout=5)
        assert message["event"] == "trade:executed" and message["data"] == {"symbol": "AAPL"}
        assert await sock_b.receive_nothing(timeout=0.5)
        await sock_a.disconnect()
        await sock_b.disconnect()

    run_async(scenario())


def test_it_counts_connections_and_forgets_closed_ones(make_user):
    a = make_user()

    async def scenario():
        before = tracker.snapshot()
        s1, s2 = await _open(a), await _open(a)
        now = tracker.snapshot()
        assert now["total"] == before["total"] + 2 and now["active"] == before["active"] + 2
        assert a.pk in now["users"]
        await s1.disconnect()
        await s2.disconnect()
        assert a.pk not in tracker.snapshot()["users"]

    run_async(scenario())


def test_realtime_off_closes_with_an_error(user, settings):
    settings.WEBSOCKET_FEATURES_ENABLED = False

    async def scenario():
        key = (await asyncio.to_thread(api_token_create, user=user)).key
        comm = WebsocketCommunicator(application, "/ws/", headers=[(b"authorization", f"Token {key}".encode())])
        await comm.connect()
        message = await comm.receive_json_from(timeout=5)
        assert message["event"] == "error" and message["data"]["code"] == "realtime_disabled"
        assert (await comm.receive_output(timeout=5))["code"] == 4503

    run_async(scenario())
