"""`bot:signal` on the real ASGI app and the real Redis channel layer: when a signal is recorded
(decided) and again when its orders settle, to the bot's owner only."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client

from accounts.services import api_token_create
from config.asgi import application
from realtime import events
from tests.asyncio import run_async

pytestmark = pytest.mark.django_db(transaction=True)


async def _open(user) -> WebsocketCommunicator:
    key = (await asyncio.to_thread(api_token_create, user=user)).key
    comm = WebsocketCommunicator(application, "/ws/", headers=[(b"authorization", f"Token {key}".encode())])
    connected, _ = await comm.connect()
    assert connected
    assert (await comm.receive_json_from(timeout=5))["event"] == events.READY
    return comm


async def _until(comm: WebsocketCommunicator, event: str, match, timeout: float = 10) -> list[dict]:
    """Every message up to and including the first `event` whose data matches."""
    seen = []
    while True:
        message = await comm.receive_json_from(timeout=timeout)
        seen.append(message)
        if message["event"] == event and match(message["data"]):
            return seen


def _post(token: str, body: object) -> int:
    try:
        return Client().post(f"/hooks/bots/{token}", json.dumps(body), content_type="text/plain").status_code
    finally:
        connections.close_all()


def test_bot_signal_is_pushed_when_decided_and_again_when_its_orders_settle(make_trader, make_bot):
    trader = make_trader()
    bot = make_bot(trader)

    async def scenario():
        comm = await _open(trader.user)
        status = await asyncio.to_thread(_post, bot.token, {"action": "buy", "symbol": "AAPL", "id": "ws-1"})
        assert status == 202
        seen = await _until(comm, events.BOT_SIGNAL, lambda data: data["status"] == "executed")
        await comm.disconnect()
        return seen

    seen = run_async(scenario())
    signals = [m["data"] for m in seen if m["event"] == events.BOT_SIGNAL]
    assert [s["status"] for s in signals] == ["accepted", "executed"]
    decided, settled = signals
    assert decided["bot_id"] == bot.id and decided["payload"]["id"] == "ws-1" and decided["reason"] is None
    assert [o["status"] for o in decided["orders"]] == ["pending"]
    assert [o["status"] for o in settled["orders"]] == ["filled"] and settled["settled_at"]
    assert events.TRADE_EXECUTED in [m["event"] for m in seen]
    (record,) = trader.get(f"/api/bots/{bot.id}/signals").json()
    assert {k: v for k, v in record.items() if k != "orders"} == {k: v for k, v in settled.items() if k != "orders"}


def test_a_refused_signal_is_pushed_with_its_reason_and_only_to_its_owner(make_trader, make_bot):
    owner, stranger = make_trader(), make_trader()
    bot = make_bot(owner, state="paused")

    async def scenario():
        mine, theirs = await _open(owner.user), await _open(stranger.user)
        assert await asyncio.to_thread(_post, bot.token, {"action": "buy", "symbol": "AAPL"}) == 202
        seen = await _until(mine, events.BOT_SIGNAL, lambda data: True)
        assert await theirs.receive_nothing(timeout=0.5)
        await mine.disconnect()
        await theirs.disconnect()
        return seen[-1]["data"]

    data = run_async(scenario())
    assert data["status"] == "rejected" and data["reason"]["code"] == "bot_not_running"


def test_a_body_refused_at_the_door_is_pushed_too(make_trader, make_bot):
    trader = make_trader()
    bot = make_bot(trader)

    async def scenario():
        comm = await _open(trader.user)
        assert await asyncio.to_thread(_post, bot.token, {"action": "hold"}) == 400
        seen = await _until(comm, events.BOT_SIGNAL, lambda data: True)
        await comm.disconnect()
        return seen[-1]["data"]

    data = run_async(scenario())
    assert data["reason"]["code"] == "invalid_payload" and data["payload"] == {"action": "hold"}


def _in_thread(call):
    try:
        return call()
    finally:
        connections.close_all()


def test_starting_pausing_and_deleting_a_bot_pushes_the_portfolios_active_bots(make_trader, make_bot):
    trader = make_trader()

    async def scenario():
        comm = await _open(trader.user)
        bot = await asyncio.to_thread(_in_thread, lambda: make_bot(trader))  # created running (paper)
        await _until(comm, events.PORTFOLIO_UPDATE, lambda data: data["active_bots"] == 1)
        paused = await asyncio.to_thread(
            _in_thread, lambda: trader.patch(f"/api/bots/{bot.id}", {"state": "paused"}, format="json")
        )
        assert paused.status_code == 200
        await _until(comm, events.PORTFOLIO_UPDATE, lambda data: data["active_bots"] == 0)
        second = await asyncio.to_thread(_in_thread, lambda: make_bot(trader, name="second"))
        await _until(comm, events.PORTFOLIO_UPDATE, lambda data: data["active_bots"] == 1)
        gone = await asyncio.to_thread(_in_thread, lambda: trader.delete(f"/api/bots/{second.id}"))
        assert gone.status_code == 204
        await _until(comm, events.PORTFOLIO_UPDATE, lambda data: data["active_bots"] == 0)
        await comm.disconnect()

    run_async(scenario())
