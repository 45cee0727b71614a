"""A bot end to end: the HTTP API in-process, a real Celery worker on the real Redis broker, a WebSocket
on the real ASGI app: webhook -> decision on the worker -> order -> fill on paper -> `trade:executed`
and `bot:signal` (accepted, then executed) on the owner's socket; a leader's signal reaches a follower."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.models import Tier
from config.asgi import application
from realtime import events
from tests.asyncio import run_async
from tests.e2e.conftest import GatedAPIClient, db_turn, not_eager, user_events, worker  # noqa: F401 - fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DEADLINE = 15.0


def _client(make_user) -> GatedAPIClient:
    from accounts.services import api_token_create

    with db_turn():
        user = make_user(Tier.PREMIUM, email=f"bot-{uuid.uuid4().hex[:8]}@example.com")
        client = GatedAPIClient()
        client.token = api_token_create(user=user, name="e2e").key
    client.credentials(HTTP_AUTHORIZATION=f"Token {client.token}")
    client.user = user
    response = client.post("/api/brokers/configure", {"broker": "paper", "paper": True}, format="json")
    assert response.status_code == 201, response.content
    return client


def _create_bot(client: GatedAPIClient, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "e2e",
        "state": "paper",
        "targets": [{"broker": "paper"}],
        "sizing": {"mode": "fixed", "value": "1"},
    }
    response = client.post("/api/bots", {**body, **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _webhook(url: str, body: dict[str, Any]) -> int:
    path = "/" + url.split("/", 3)[3]
    with db_turn():
        response = Client().post(path, json.dumps(body), content_type="text/plain")
    return response.status_code


async def _socket(token: str) -> WebsocketCommunicator:
    headers = [(b"authorization", f"Token {token}".encode()), (b"origin", b"http://127.0.0.1")]
    socket = WebsocketCommunicator(application, "/ws/", headers=headers)
    connected, _ = await socket.connect(timeout=10)
    assert connected
    assert (await socket.receive_json_from(timeout=5))["event"] == events.READY
    return socket


def test_a_webhook_alert_becomes_a_filled_paper_order_pushed_to_the_owners_socket(worker, make_user):  # noqa: F811
    client = _client(make_user)
    bot = _create_bot(client)

    async def scenario() -> list[dict[str, Any]]:
        socket = await _socket(client.token)
        status = await asyncio.to_thread(
            _webhook, bot["webhook_url"], {"action": "buy", "symbol": "AAPL", "id": "e2e-1"}
        )
        assert status == 202
        seen = []
        while True:
            message = await socket.receive_json_from(timeout=DEADLINE)
            seen.append(message)
            if message["event"] == events.BOT_SIGNAL and message["data"]["status"] != "accepted":
                break
        await socket.disconnect()
        return seen

    seen = run_async(scenario())
    names = [m["event"] for m in seen]
    assert events.TRADE_EXECUTED in names
    signals = [m["data"] for m in seen if m["event"] == events.BOT_SIGNAL]
    assert [s["status"] for s in signals] == ["accepted", "executed"]
    trade = next(m["data"] for m in seen if m["event"] == events.TRADE_EXECUTED)
    (order,) = signals[-1]["orders"]
    assert order["order_id"] == trade["order_id"] and order["status"] == "filled" and trade["symbol"] == "AAPL"
    log = client.get(f"/api/bots/{bot['id']}/signals").json()
    assert [(s["status"], s["payload"]["id"]) for s in log] == [("executed", "e2e-1")]
    assert client.get(f"/api/orders/{trade['order_id']}").json()["status"] == "filled"


def test_a_leaders_signal_fills_a_followers_order_through_the_worker(worker, make_user, user_events):  # noqa: F811
    leader_client, follower_client = _client(make_user), _client(make_user)
    leader = _create_bot(leader_client, published=True)
    follower = _create_bot(follower_client, source={"follow": leader["id"]}, sizing={"mode": "fixed", "value": "3"})
    heard = user_events(follower_client.user.pk)
    assert _webhook(leader["webhook_url"], {"action": "buy", "symbol": "MSFT"}) == 202
    settled = heard.wait(events.BOT_SIGNAL, lambda data: data["status"] == "executed", timeout=DEADLINE)
    assert settled.data["bot_id"] == follower["id"] and settled.data["orders"][0]["qty"] == "3"
    assert heard.wait(events.TRADE_EXECUTED, lambda data: data["symbol"] == "MSFT", timeout=DEADLINE)
