"""The gateway brokers (Interactive Brokers through IB Gateway/TWS, Moomoo through OpenD) end to end:
the API with a token, a real Celery worker, the gateway host that owns each connection's socket,
and the user's events on the real channel layer.

A gateway that drops its sockets is reconnected and the next order fills; a gateway that is down
answers a bounded 502 and never holds up the worker; two users' connections to one gateway use
different client ids (IB refuses a second socket with an id already in use).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from brokers.adapters.registry import get_spec
from tests.brokers.contract.harness import Harness
from tests.e2e.brokers import (
    Account,
    assert_executed,
    broker_running,
    connect_with_keys,
    gateway_running,
    market_buy,
    order_becomes,
    order_get,
    premium_account,
    trading,
    wizard_fields,
)
from tests.e2e.conftest import UserEvents, celery_worker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GATEWAY_BROKERS = ("ibkr", "moomoo")
FILL_SECONDS = 10.0
# The socket's handshake, as each simulator records it: TWS API `startApi`, OpenD `InitConnect`.
HANDSHAKES = {"ibkr": lambda sim: len(sim.messages("startApi")), "moomoo": lambda sim: len(sim.received("InitConnect"))}


def _connected(account: Account, key: str, harness: Harness) -> None:
    connect_with_keys(account, key, harness, wizard_fields(key, harness)[0])


def _bought(account: Account, events: UserEvents, key: str, harness: Harness) -> dict[str, Any]:
    """A market buy through the API, filled at the gateway and heard by the user."""
    order = order_becomes(account, market_buy(account, key, harness)["id"], "filled", timeout=FILL_SECONDS)
    assert Decimal(order["filled_qty"]) == harness.qty
    assert_executed(events, order, key, timeout=3)
    return order


@pytest.mark.parametrize("key", GATEWAY_BROKERS)
def test_a_gateway_that_drops_its_sockets_is_reconnected_and_the_next_order_fills(key, not_eager, user_events):
    with trading(key) as harness:
        account = premium_account()
        events = user_events(account.user.pk)
        _connected(account, key, harness)
        first = _bought(account, events, key, harness)
        handshakes = HANDSHAKES[key](harness.sim)

        harness.sim.drop_clients()  # the gateway restarts (or its network blips): every socket closes
        started = time.monotonic()
        second = _bought(account, events, key, harness)

        assert time.monotonic() - started < FILL_SECONDS
        assert HANDSHAKES[key](harness.sim) > handshakes  # a new socket, not the dropped one
        assert second["broker_order_id"] != first["broker_order_id"]
        [listed] = account.api.get("/api/brokers/user/configured").json()
        assert listed["status"] == "connected", listed
        assert events.all("trade:failed") == []


@contextlib.contextmanager
def _silent_listener(port: int) -> Iterator[None]:
    """A hung gateway on `port`: it accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        yield


@pytest.mark.parametrize("how", ["stopped", "hung"])
@pytest.mark.parametrize("key", GATEWAY_BROKERS)
def test_a_gateway_that_is_down_answers_a_bounded_502_and_holds_no_worker_up(key, how, not_eager, user_events):
    bound = get_spec(key).capabilities.timeout_seconds  # what one call may take in all
    with trading(key) as harness, contextlib.ExitStack() as down:
        account = premium_account()
        events = user_events(account.user.pk)
        sent = wizard_fields(key, harness)[0]
        _connected(account, key, harness)
        body = {"broker": "paper", "credentials": {}, "paper": True}
        paper = account.api.post("/api/brokers/configure", body, format="json")
        assert paper.status_code == 201, paper.content

        _bought(account, events, key, harness)  # trading until now
        port = harness.sim.port
        harness.sim.stop()  # the user's gateway is down: nothing listens on its port
        if how == "hung":
            down.enter_context(_silent_listener(port))
        for method, path, body in (
            ("get", f"/api/brokers/user/{key}/balance?refresh=1", None),
            ("post", "/api/brokers/test", {"broker": key, "credentials": sent, "paper": harness.paper}),
        ):
            started = time.monotonic()
            answer = getattr(account.api, method)(path, body, format="json")
            took = time.monotonic() - started
            assert answer.status_code == 502, (path, answer.content)
            assert answer.json()["error"]["code"] == "broker_unavailable", answer.json()
            assert took < bound, (path, took)

        # Accepted (its instrument is known already); the worker tries it, fails, and retries it later.
        stuck = market_buy(account, key, harness)
        started = time.monotonic()
        paper_order = market_buy(account, "paper", harness)
        filled = order_becomes(account, paper_order["id"], "filled", timeout=bound + FILL_SECONDS)
        assert time.monotonic() - started < bound + FILL_SECONDS
        assert_executed(events, filled, "paper", timeout=3)
        assert order_get(account, stuck["id"])["status"] in {"pending", "unknown"}
        assert events.all("trade:executed", lambda d: d["order_id"] == stuck["id"]) == []
        [gateway] = [c for c in account.api.get("/api/brokers/user/configured").json() if c["broker"] == key]
        assert gateway["status"] == "error" and gateway["last_error"], gateway


def test_two_users_connections_to_one_ib_gateway_use_different_client_ids(not_eager, user_events):
    with broker_running("ibkr") as harness, gateway_running(), celery_worker():
        users = [premium_account(), premium_account()]
        heard = [user_events(account.user.pk) for account in users]
        for account in users:
            _connected(account, "ibkr", harness)
        orders = [_bought(account, events, "ibkr", harness) for account, events in zip(users, heard, strict=True)]

        placed_by = {client for client, _ in harness.sim.messages("placeOrder")}
        assert len(placed_by) == 2, placed_by  # each connection's own socket placed its own order
        assert placed_by <= harness.sim.connected_client_ids()  # both sockets are still up, side by side
        for events, mine, theirs in ((heard[0], *orders), (heard[1], *reversed(orders))):
            assert [e.data["order_id"] for e in events.all("trade:executed")] == [mine["id"]]
            assert theirs["id"] not in {e.data["order_id"] for e in events.all("trade:executed")}
