"""The /ws/ handshake: session or token auth, 4401 for strangers, foreign Origins refused."""

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.services import api_token_create
from config.asgi import application
from tests.asyncio import run_async

pytestmark = pytest.mark.django_db(transaction=True)


def _communicator(headers=()):
    return WebsocketCommunicator(application, "/ws/", headers=[(b"origin", b"http://localhost"), *headers])


async def _ready(comm):
    connected, _ = await comm.connect()
    assert connected
    return await comm.receive_json_from(timeout=5)


def test_it_closes_an_unauthenticated_socket_with_4401():
    async def scenario():
        comm = _communicator()
        connected, _ = await comm.connect()
        assert connected
        output = await comm.receive_output(timeout=5)
        assert output == {"type": "websocket.close", "code": 4401}

    _run(scenario())


def test_it_accepts_a_token_and_sends_ready(premium_user):
    key = api_token_create(user=premium_user).key

    async def scenario():
        comm = _communicator([(b"authorization", f"Token {key}".encode())])
        message = await _ready(comm)
        assert message["event"] == "ready"
        assert message["data"] == {"user_id": premium_user.pk, "tier": "premium"}
        assert message["ts"].endswith("Z")
        await comm.disconnect()

    _run(scenario())


def test_it_accepts_the_session_cookie(user):
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario():
        comm = _communicator([(b"cookie", cookie)])
        message = await _ready(comm)
        assert message["data"]["user_id"] == user.pk
        await comm.disconnect()

    _run(scenario())


def test_it_refuses_a_revoked_token_with_4401(user):
    from accounts.services import api_token_revoke

    issued = api_token_create(user=user)
    api_token_revoke(token=issued.token)

    async def scenario():
        comm = _communicator([(b"authorization", f"Token {issued.key}".encode())])
        await comm.connect()
        assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}

    _run(scenario())


def test_it_refuses_a_foreign_origin_before_accept(user):
    key = api_token_create(user=user).key

    async def scenario():
        comm = WebsocketCommunicator(
            application,
            "/ws/",
            headers=[(b"origin", b"https://evil.example"), (b"authorization", f"Token {key}".encode())],
        )
        connected, _ = await comm.connect()
        assert not connected

    _run(scenario())


def _run(coro):
    run_async(coro)
