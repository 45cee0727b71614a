"""Orders end to end: the API in-process, a real Celery worker on the real Redis broker, and
trade events on the real Redis channel layer.

The paper market is a deterministic function of time, so a test can read future quotes and
choose prices at which an order rests when placed and becomes marketable a few seconds later.
Beat is not running: the tests queue `paper_match` themselves, through the broker.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Tier, User
from brokers.adapters.base import Quote
from brokers.adapters.paper.market import market_quote
from brokers.adapters.paper.universe import LISTINGS
from brokers.models import Order, PaperOrder, PaperPosition
from brokers.tasks import order_submit_task, paper_match
from config.asgi import application
from config.redis import get_redis
from tests.asyncio import run_async
from tests.e2e.conftest import GatedAPIClient, UserEvents, celery_worker, db_turn

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ORDERS = "/api/brokers/user/paper/orders"
START_CASH = Decimal(100_000)
REAL_BROKERS = ("alpaca", "ibkr", "schwab", "moomoo", "kraken", "coinbase")
CELERY_QUEUE = "celery"  # Celery's default queue: a Redis list of waiting messages
PLAIN_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
EVENT_DEADLINE = 2.0  # a trade event reaches the user's group within this long of the fill

# Choosing resting prices: not marketable for the first REST seconds (placing and submitting
# take well under one), then marketable for HOLD consecutive seconds, so a match queued every
# quarter second sees it.
REST = 3
HOLD = 3
HORIZON = 60


# --- accounts, through the product's own doors ------------------------------------------------


def _account(tier: str) -> APIClient:
    """Sign up on the allauth page, set the tier and issue a token with the operator commands."""
    with db_turn():
        return _signed_up(tier)


def _signed_up(tier: str) -> APIClient:
    email = f"{tier}-{uuid.uuid4().hex[:8]}@example.com"
    password = "a-long-passphrase-9"
    signup = Client().post("/accounts/signup/", {"email": email, "password1": password, "password2": password})
    assert signup.status_code == 302, signup.content
    if tier == Tier.PREMIUM:
        call_command("set_tier", email, "premium", stdout=io.StringIO())
    out = io.StringIO()
    call_command("create_api_token", email, stdout=out)
    client = GatedAPIClient()
    client.token = out.getvalue().strip().splitlines()[-1]
    client.credentials(HTTP_AUTHORIZATION=f"Token {client.token}")
    client.user = User.objects.get(email=email)
    assert client.user.tier == tier
    return client


def _configure_paper(client: APIClient) -> dict[str, Any]:
    response = client.post(
        "/api/brokers/configure", {"broker": "paper", "credentials": {}, "paper": True}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


# --- orders ----------------------------------------------------------------------------------


def _place(client: APIClient, **body: str) -> dict[str, Any]:
    response = client.post(ORDERS, body, format="json")
    assert response.status_code == 202, response.content
    order = response.json()
    assert order["status"] == "pending"  # accepted and stored; the worker submits it
    return order


def _eventually(fetch: Callable[[], Any], ok: Callable[[Any], bool], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not ok(value := fetch()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {value!r}")
        time.sleep(0.05)
    return value


def _order(client: APIClient, order_id: str) -> dict[str, Any]:
    response = client.get(f"/api/orders/{order_id}")
    assert response.status_code == 200, response.content
    return response.json()


def _order_becomes(client: APIClient, order_id: str, status: str, *, timeout: float = 10) -> dict[str, Any]:
    return _eventually(
        lambda: _order(client, order_id), lambda o: o["status"] == status, timeout=timeout, what=f"{status} {order_id}"
    )


def _fill_moment(order: dict[str, Any]) -> float:
    """When the paper broker filled the order (its book's last change), as a UNIX time."""
    with db_turn():
        return PaperOrder.objects.get(pk=order["broker_order_id"]).updated_at.timestamp()


def _queued() -> int:
    return get_redis().llen(CELERY_QUEUE)


def _cash(client: APIClient) -> Decimal:
    response = client.get("/api/brokers/user/paper/balance?refresh=1")
    assert response.status_code == 200, response.content
    return Decimal(response.json()["cash"])


def _cost(order: dict[str, Any]) -> Decimal:
    """What a filled buy took from cash: the notional at the fill price, plus the fee."""
    notional = (Decimal(order["filled_qty"]) * Decimal(order["avg_fill_price"])).quantize(Decimal("0.01"))
    return notional + Decimal(order["fee"])


# --- resting orders from known future quotes ---------------------------------------------------


@dataclass(frozen=True)
class Resting:
    symbol: str
    type: str
    prices: dict[str, str]
    marketable_in: int  # seconds after it was chosen


def _future(symbol: str, start: int) -> list[Quote]:
    return [market_quote(symbol, datetime.fromtimestamp(start + i, tz=UTC)) for i in range(HORIZON + HOLD)]


def _terms(kind: str, quotes: list[Quote], second: int) -> dict[str, str] | None:
    """Buy prices at which `kind` first becomes marketable at `second`, or None if it cannot."""
    before, then = quotes[:second], quotes[second : second + HOLD]
    highest_ask = max(q.ask for q in then)
    if kind == "limit":  # fills once the ask comes down to the limit
        return {"limit_price": str(highest_ask)} if min(q.ask for q in before) > highest_ask else None
    stop = min(q.price for q in then)  # fires once the last price rises to the stop
    if max(q.price for q in before) >= stop:
        return None
    return {"stop_price": str(stop)} if kind == "stop" else {"stop_price": str(stop), "limit_price": str(highest_ask)}


def _resting(kind: str, *, avoid: set[str]) -> Resting:
    """The stock on which a `kind` buy placed now rests for REST seconds and then fills soonest."""
    start = int(time.time())
    found: list[Resting] = []
    for symbol, item in LISTINGS.items():
        if item.crypto or symbol in avoid:
            continue
        quotes = _future(symbol, start)
        for second in range(REST + 1, HORIZON):
            if terms := _terms(kind, quotes, second):
                found.append(Resting(symbol, kind, terms, second))
                break
    assert found, f"no {kind} order becomes marketable within {HORIZON}s"
    return min(found, key=lambda r: r.marketable_in)


def _match_until_filled(client: APIClient, order_ids: list[str], *, timeout: float) -> dict[str, dict[str, Any]]:
    """Queue `paper_match` (as beat would) until every order is filled; returns the orders."""
    deadline = time.monotonic() + timeout
    while True:
        paper_match.delay()
        orders = {order_id: _order(client, order_id) for order_id in order_ids}
        if all(o["status"] == "filled" for o in orders.values()):
            return orders
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not filled after {timeout}s: {[(o['symbol'], o['status']) for o in orders.values()]}"
            )
        time.sleep(0.25)


# --- events ---------------------------------------------------------------------------------------


def _assert_executed(events: UserEvents, order: dict[str, Any]) -> None:
    """One `trade:executed` for the order, with the contract's payload, within 2 s of the fill."""
    got = events.wait("trade:executed", lambda d: d["order_id"] == order["id"], timeout=EVENT_DEADLINE + 3)
    assert got.data == {
        "order_id": order["id"],
        "client_order_id": order["client_order_id"],
        "broker": "paper",
        "symbol": order["symbol"],
        "side": order["side"],
        "qty": order["qty"],
        "price": order["avg_fill_price"],
        "fee": order["fee"],
        "status": "filled",
        "filled_qty": order["qty"],
    }
    for field in ("qty", "price", "fee", "filled_qty"):
        assert PLAIN_DECIMAL.match(got.data[field]), (field, got.data[field])
    assert got.at - _fill_moment(order) <= EVENT_DEADLINE
    assert len(events.all("trade:executed", lambda d: d["order_id"] == order["id"])) == 1


# --- the "Done means" -----------------------------------------------------------------------


def test_it_lets_a_premium_user_trade_the_paper_broker_through_the_api_alone(worker, user_events):
    client = _account(Tier.PREMIUM)
    events = user_events(client.user.pk)

    supported = {b["key"]: b for b in client.get("/api/brokers/supported").json()}
    assert {"market", "limit", "stop", "stop_limit"} <= set(supported["paper"]["order_types"])
    tested = client.post("/api/brokers/test", {"broker": "paper", "credentials": {}, "paper": True}, format="json")
    assert tested.status_code == 200 and tested.json()["ok"] is True
    _configure_paper(client)
    configured = client.get("/api/brokers/user/configured").json()
    assert [(c["broker"], c["status"]) for c in configured] == [("paper", "connected")]
    balance = client.get("/api/brokers/user/paper/balance").json()
    assert balance["currency"] == "USD" and balance["stale"] is False
    assert Decimal(balance["cash"]) == Decimal(balance["equity"]) == START_CASH

    # Resting orders first: their prices are only good for the next few seconds.
    plans: list[Resting] = []
    for kind in ("limit", "stop", "stop_limit"):
        plans.append(_resting(kind, avoid={p.symbol for p in plans} | {"MSFT"}))
    resting = [_place(client, symbol=p.symbol, side="buy", type=p.type, qty="1", **p.prices) for p in plans]
    market = _place(client, symbol="SOL/USD", side="buy", type="market", qty="2")
    far = _place(client, symbol="MSFT", side="buy", type="limit", qty="1", limit_price="1")

    market = _order_becomes(client, market["id"], "filled")
    assert Decimal(market["fee"]) > 0  # crypto pays a taker fee
    _assert_executed(events, market)
    for order in [*resting, far]:
        _order_becomes(client, order["id"], "submitted")  # on the broker's book, not filled at once
    open_ids = {o["id"] for o in client.get(f"{ORDERS}?status=open").json()}
    assert open_ids == {o["id"] for o in [*resting, far]}

    canceling = client.delete(f"/api/orders/{far['id']}")
    assert canceling.status_code == 202, canceling.content
    far = _order_becomes(client, far["id"], "canceled")
    with db_turn():
        assert PaperOrder.objects.get(pk=far["broker_order_id"]).status == "canceled"

    filled = _match_until_filled(client, [o["id"] for o in resting], timeout=HORIZON)
    for plan, placed in zip(plans, resting, strict=True):
        order = filled[placed["id"]]
        _assert_executed(events, order)
        price = Decimal(order["avg_fill_price"])
        assert "limit_price" not in plan.prices or price <= Decimal(plan.prices["limit_price"]), (plan, order)
        assert "stop_price" not in plan.prices or price >= Decimal(plan.prices["stop_price"]), (plan, order)

    bought = [market, *filled.values()]
    expected_cash = START_CASH - sum(_cost(o) for o in bought)
    update = events.wait("portfolio:update", lambda d: Decimal(d["cash"]) == expected_cash, timeout=5)
    assert update.at >= max(e.at for e in events.all("trade:executed"))
    assert set(update.data) >= {"currency", "total_value", "cash", "day_pnl", "brokers", "sparkline"}

    positions = _eventually(
        lambda: client.get("/api/brokers/user/paper/positions").json(),
        lambda rows: len(rows) == len(bought),
        timeout=5,
        what="a position per fill",
    )
    assert {p["symbol"]: (Decimal(p["qty"]), Decimal(p["avg_price"])) for p in positions} == {
        o["symbol"]: (Decimal(o["qty"]), Decimal(o["avg_fill_price"])) for o in bought
    }
    assert _cash(client) == expected_cash
    portfolio = client.get("/api/portfolio").json()
    equity = Decimal(client.get("/api/brokers/user/paper/balance").json()["equity"])
    assert Decimal(portfolio["cash"]) == expected_cash and Decimal(portfolio["total_value"]) == equity
    assert [(b["broker"], b["status"]) for b in portfolio["brokers"]] == [("paper", "connected")]
    assert client.get(f"{ORDERS}?status=open").json() == []
    assert len(client.get(f"{ORDERS}?status=closed").json()) == 5

    assert client.delete("/api/brokers/user/paper").status_code == 204
    assert client.get("/api/brokers/user/configured").json() == []
    assert client.get("/api/brokers/user/paper/balance").status_code == 404
    assert _order(client, market["id"])["status"] == "filled"  # history outlives the connection
    retry = client.post(ORDERS, {"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"}, format="json")
    assert retry.status_code == 404


def test_it_gives_a_free_user_premium_required_for_every_real_broker():
    client = _account(Tier.FREE)
    supported = {b["key"]: b["premium_required"] for b in client.get("/api/brokers/supported").json()}
    assert supported == {**dict.fromkeys(REAL_BROKERS, True), "paper": False}
    for key in (*REAL_BROKERS, "coinbasepro"):
        body = {"broker": key, "credentials": {"api_key": "k" * 12, "api_secret": "s" * 12}, "paper": True}
        order = {"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"}
        for response in (
            client.post("/api/brokers/test", body, format="json"),
            client.post("/api/brokers/configure", body, format="json"),
            client.post(f"/api/brokers/user/{key}/orders", order, format="json"),
        ):
            assert response.status_code == 403, (key, response.content)
            assert response.json()["error"]["code"] == "premium_required", key
    assert client.get("/api/brokers/user/configured").json() == []
    _configure_paper(client)  # the paper broker stays open to every tier


# --- failure paths ---------------------------------------------------------------------------------


def test_it_keeps_an_order_placed_while_the_worker_is_down_and_submits_it_once_one_starts(not_eager, user_events):
    client = _account(Tier.PREMIUM)
    _configure_paper(client)
    events = user_events(client.user.pk)
    order = _place(client, symbol="AAPL", side="buy", type="market", qty="3")

    time.sleep(1.5)  # a running worker fills a market order in well under 0.1 s
    assert _order(client, order["id"])["status"] == "pending"
    assert [o["id"] for o in client.get(f"{ORDERS}?status=open").json()] == [order["id"]]
    assert _queued() == 1  # its submission waits in Redis
    assert not PaperOrder.objects.exists()  # nothing reached the broker

    with celery_worker():
        filled = _order_becomes(client, order["id"], "filled")
        _assert_executed(events, filled)
        _eventually(_queued, lambda n: n == 0, timeout=5, what="an empty queue")
        time.sleep(0.5)  # room for a second submission to show itself
    assert PaperOrder.objects.filter(client_order_id=order["client_order_id"]).count() == 1
    assert Order.objects.get(pk=order["id"]).submit_attempts == 1
    assert len(events.all("trade:executed")) == 1
    assert _cash(client) == START_CASH - _cost(filled)


@pytest.mark.parametrize("pool", ["solo", "threads"], ids=["one-after-the-other", "side-by-side"])
def test_it_places_one_paper_order_when_the_submit_task_is_delivered_twice(not_eager, user_events, pool):
    client = _account(Tier.PREMIUM)
    _configure_paper(client)
    events = user_events(client.user.pk)
    order = _place(client, symbol="MSFT", side="buy", type="market", qty="2")
    order_submit_task.delay(order["id"])  # the same submission, delivered a second time
    assert _queued() == 2

    with celery_worker(pool=pool, concurrency=2 if pool == "threads" else 1):
        filled = _order_becomes(client, order["id"], "filled")
        _eventually(_queued, lambda n: n == 0, timeout=5, what="both deliveries consumed")
        time.sleep(0.5)
    assert PaperOrder.objects.filter(client_order_id=order["client_order_id"]).count() == 1
    assert Order.objects.get(pk=order["id"]).submit_attempts == 1
    assert PaperPosition.objects.get(symbol="MSFT").qty == 2
    assert len(events.all("trade:executed")) == 1
    assert _cash(client) == START_CASH - _cost(filled)  # paid for once


def test_it_rejects_an_order_beyond_the_cash_with_insufficient_funds(worker, user_events):
    client = _account(Tier.PREMIUM)
    _configure_paper(client)
    events = user_events(client.user.pk)
    order = _place(client, symbol="BTC/USD", side="buy", type="market", qty="1000")

    rejected = _order_becomes(client, order["id"], "rejected")
    assert rejected["error"]["code"] == "insufficient_funds"
    got = events.wait("trade:failed", lambda d: d["order_id"] == order["id"], timeout=EVENT_DEADLINE + 3)
    assert got.data["error"]["code"] == "insufficient_funds" and got.data["error"]["message"]
    assert {k: got.data[k] for k in ("client_order_id", "broker", "symbol", "side", "qty")} == {
        "client_order_id": order["client_order_id"],
        "broker": "paper",
        "symbol": "BTC/USD",
        "side": "buy",
        "qty": "1000",
    }
    with db_turn():
        failed_at = Order.objects.get(pk=order["id"]).updated_at.timestamp()
    assert got.at - failed_at <= EVENT_DEADLINE
    assert events.all("trade:executed") == []
    assert client.get("/api/brokers/user/paper/positions").json() == []
    assert _cash(client) == START_CASH


# --- a quiet socket ------------------------------------------------------------------------------


def test_it_delivers_a_fill_to_a_socket_that_was_quiet_for_a_while(worker):
    client = _account(Tier.PREMIUM)
    _configure_paper(client)

    async def scenario() -> None:
        headers = [(b"authorization", f"Token {client.token}".encode()), (b"origin", b"http://127.0.0.1")]
        socket = WebsocketCommunicator(application, "/ws/", headers=headers)
        connected, _ = await socket.connect(timeout=10)
        assert connected
        assert (await socket.receive_json_from(timeout=5))["event"] == "ready"
        await asyncio.sleep(6)  # a user reading the page: nothing to send either way
        order = await asyncio.to_thread(_place, client, symbol="AAPL", side="buy", type="market", qty="1")
        while (message := await socket.receive_json_from(timeout=EVENT_DEADLINE + 3))["event"] != "trade:executed":
            pass
        assert message["data"]["order_id"] == order["id"]
        await socket.disconnect()

    run_async(scenario())
