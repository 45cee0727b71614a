"""Orders through the API on the paper broker: each type, idempotency, failures, cancel, isolation."""

from decimal import Decimal

import pytest

from brokers.adapters.base import AdapterContext, OrderRequest, OrderType, Side
from brokers.adapters.paper import PaperAdapter
from brokers.adapters.paper.market import market_quote
from brokers.models import Order, PaperOrder
from brokers.services.orders import order_submit

pytestmark = pytest.mark.django_db

ORDERS = "/api/brokers/user/paper/orders"


@pytest.fixture
def place(paper_client, django_capture_on_commit_callbacks):
    def run(body: dict, client=None, **headers):
        with django_capture_on_commit_callbacks(execute=True):
            return (client or paper_client).post(ORDERS, body, format="json", **headers)

    return run


def _order(response) -> Order:
    return Order.objects.get(pk=response.json()["id"])


def test_a_market_buy_is_accepted_then_filled(place, paper_client):
    response = place({"symbol": "aapl", "side": "buy", "type": "market", "qty": "2"})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["symbol"] == "AAPL" and body["qty"] == "2" and body["status"] == "pending"
    detail = paper_client.get(f"/api/orders/{body['id']}").json()
    assert detail["status"] == "filled" and detail["filled_qty"] == "2"
    assert Decimal(detail["avg_fill_price"]) > 0 and detail["broker_order_id"]
    positions = paper_client.get("/api/brokers/user/paper/positions").json()
    assert [p["symbol"] for p in positions] == ["AAPL"] and positions[0]["qty"] == "2"


@pytest.mark.parametrize(
    ("kind", "prices"),
    [
        ("limit", {"limit_price": "1"}),
        ("stop", {"stop_price": "5000"}),
        ("stop_limit", {"stop_price": "5000", "limit_price": "5001"}),
    ],
)
def test_resting_order_types_are_submitted_and_stay_open(place, paper_client, kind, prices):
    response = place({"symbol": "MSFT", "side": "buy", "type": kind, "qty": "1", **prices})
    assert response.status_code == 202, response.content
    order = _order(response)
    assert order.status == "submitted"
    open_ids = [o["id"] for o in paper_client.get(f"{ORDERS}?status=open").json()]
    assert open_ids == [str(order.pk)]
    assert paper_client.get(f"{ORDERS}?status=closed").json() == []


def test_a_bracket_buy_fills_and_leaves_exit_legs_at_the_broker(place):
    price = market_quote("AAPL").price
    response = place(
        {
            "symbol": "AAPL",
            "side": "buy",
            "type": "market",
            "qty": "1",
            "take_profit": {"limit_price": str(price * 2)},
            "stop_loss": {"stop_price": str((price / 2).quantize(Decimal("0.01")))},
        }
    )
    assert response.status_code == 202, response.content
    assert response.json()["take_profit"] == {"limit_price": str((price * 2).normalize())}
    order = _order(response)
    assert order.status == "filled"
    parent = PaperOrder.objects.get(pk=order.broker_order_id)
    assert sorted(leg.type for leg in parent.legs.all()) in (["limit", "stop"], ["limit", "stop_limit"])


def test_the_same_client_order_id_returns_the_same_order_once(place, paper_client):
    body = {"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1", "client_order_id": "retry-1"}
    first = place(body)
    second = place(body)
    assert first.status_code == 202 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert Order.objects.count() == 1 and PaperOrder.objects.count() == 1


def test_the_idempotency_key_header_works_like_a_client_order_id(place):
    body = {"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"}
    first = place(body, HTTP_IDEMPOTENCY_KEY="key-42")
    second = place(body, HTTP_IDEMPOTENCY_KEY="key-42")
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["client_order_id"] == "key-42" and Order.objects.count() == 1


def test_the_same_client_order_id_for_a_different_order_is_a_409(place):
    place({"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1", "client_order_id": "x1"})
    response = place({"symbol": "AAPL", "side": "buy", "type": "market", "qty": "3", "client_order_id": "x1"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_order"
    assert Order.objects.count() == 1


def test_running_the_submit_task_twice_places_one_broker_order(place):
    order = _order(place({"symbol": "MSFT", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1"}))
    Order.objects.filter(pk=order.pk).update(status="unknown")  # as if the first worker died mid-call
    order_submit(order_id=str(order.pk))
    order_submit(order_id=str(order.pk))
    assert PaperOrder.objects.count() == 1
    order.refresh_from_db()
    assert order.status == "submitted" and order.submit_attempts == 2


def test_a_lost_response_is_recovered_by_client_order_id(paper_client, make_user):
    connection = paper_client.connection
    order = Order.objects.create(
        user=paper_client.user,
        connection=connection,
        broker="paper",
        client_order_id="lost-1",
        request_fingerprint="x",
        symbol="AAPL",
        side="buy",
        type="market",
        qty=Decimal(1),
        status="unknown",
        submit_attempts=1,
    )
    # The broker got the first attempt; its answer never came back.
    adapter = PaperAdapter({}, paper=True, context=AdapterContext(user_id=paper_client.user.pk))
    adapter.place_order(
        OrderRequest(client_order_id="lost-1", symbol="AAPL", side=Side.BUY, type=OrderType.MARKET, qty=Decimal(1))
    )
    order_submit(order_id=str(order.pk))
    order.refresh_from_db()
    assert order.status == "filled" and PaperOrder.objects.count() == 1


def test_insufficient_funds_is_accepted_then_rejected(place, paper_client):
    response = place({"symbol": "BTC/USD", "side": "buy", "type": "market", "qty": "1000"})
    assert response.status_code == 202
    order = _order(response)
    assert order.status == "rejected" and order.error_code == "insufficient_funds"
    detail = paper_client.get(f"/api/orders/{order.pk}").json()
    assert detail["error"]["code"] == "insufficient_funds"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"side": "buy", "type": "limit", "qty": "1"}, "limit_price"),
        ({"side": "buy", "type": "stop_limit", "qty": "1", "limit_price": "5"}, "stop_price"),
        ({"side": "buy", "type": "market", "qty": "1", "limit_price": "5"}, "limit_price"),
        ({"side": "buy", "type": "market", "qty": "-1"}, "qty"),
        ({"side": "buy", "type": "market", "qty": "abc"}, "qty"),
        ({"side": "hold", "type": "market", "qty": "1"}, "side"),
        ({"side": "buy", "type": "trailing", "qty": "1"}, "type"),
        ({"side": "buy", "type": "market", "qty": "1", "client_order_id": "has space"}, "client_order_id"),
        (
            {
                "side": "buy",
                "type": "market",
                "qty": "1",
                "take_profit": {"limit_price": "1"},
                "stop_loss": {"stop_price": "2"},
            },
            "take_profit",
        ),
    ],
)
def test_bad_orders_get_field_errors_and_change_nothing(place, body, field):
    response = place({"symbol": "AAPL", **body})
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"
    assert field in response.json()["error"]["fields"]
    assert not Order.objects.exists()


def test_an_unknown_symbol_is_a_400_on_the_symbol(place):
    response = place({"symbol": "NOPE123", "side": "buy", "type": "market", "qty": "1"})
    assert response.status_code == 400
    assert "symbol" in response.json()["error"]["fields"]
    assert not Order.objects.exists()


def test_an_open_order_is_canceled(place, paper_client, django_capture_on_commit_callbacks):
    order = _order(place({"symbol": "MSFT", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1"}))
    with django_capture_on_commit_callbacks(execute=True):
        response = paper_client.delete(f"/api/orders/{order.pk}")
    assert response.status_code == 202
    order.refresh_from_db()
    assert order.status == "canceled"
    assert PaperOrder.objects.get(pk=order.broker_order_id).status == "canceled"


def test_a_filled_order_cannot_be_canceled(place, paper_client):
    order = _order(place({"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"}))
    response = paper_client.delete(f"/api/orders/{order.pk}")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "order_not_open"


def test_another_users_order_is_a_404(place, make_user):
    from tests.brokers.test_api_connections import _client_for

    order = _order(place({"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"}))
    other = _client_for(make_user())
    assert other.get(f"/api/orders/{order.pk}").status_code == 404
    assert other.delete(f"/api/orders/{order.pk}").status_code == 404
    assert other.get("/api/orders/not-a-uuid").status_code == 404


def test_orders_need_a_configured_broker(token_client):
    response = token_client.post(ORDERS, {"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"}, format="json")
    assert response.status_code == 404


def test_a_free_user_cannot_trade_a_real_broker(user):
    from tests.brokers.test_api_connections import _client_for

    response = _client_for(user).post("/api/brokers/user/alpaca/orders", {}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "premium_required"


def test_the_order_list_rejects_an_unknown_status(paper_client):
    response = paper_client.get(f"{ORDERS}?status=weird")
    assert response.status_code == 400 and "status" in response.json()["error"]["fields"]


def test_the_portfolio_sums_the_snapshots(place, paper_client):
    place({"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"})
    response = paper_client.get("/api/portfolio")
    assert response.status_code == 200
    body = response.json()
    assert {
        "currency",
        "total_value",
        "cash",
        "day_pnl",
        "day_pnl_pct",
        "active_bots",
        "brokers",
        "sparkline",
        "as_of",
    } <= set(body)
    assert body["currency"] == "USD" and body["brokers"][0]["broker"] == "paper"
    assert Decimal(body["cash"]) < Decimal(100000)  # the fill was snapshotted
    assert body["sparkline"] and all({"t", "v"} == set(p) for p in body["sparkline"])


def test_a_late_open_answer_never_reopens_a_filled_order(place):
    from dataclasses import replace

    from brokers.services.orders import order_apply_state

    order = _order(place({"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"}))
    assert order.status == "filled"
    adapter = PaperAdapter({}, paper=True, context=AdapterContext(user_id=order.user_id))
    stale = replace(adapter.get_order(order.broker_order_id), status="submitted", filled_qty=Decimal(0))
    order_apply_state(order=order, state=stale)
    order.refresh_from_db()
    assert order.status == "filled" and order.filled_qty == 1


def test_the_sweep_resends_a_lost_cancel_and_repairs_a_missed_fill(place, paper_client):
    from datetime import timedelta

    from django.utils import timezone

    from brokers.tasks import orders_reconcile

    resting = _order(place({"symbol": "MSFT", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1"}))
    missed = _order(place({"symbol": "NVDA", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1"}))
    # A cancel whose task never reached the queue, and a fill whose report never arrived.
    Order.objects.filter(pk=resting.pk).update(cancel_requested=True)
    PaperOrder.objects.filter(pk=missed.broker_order_id).update(status="filled", filled_qty=1, avg_fill_price=1)
    Order.objects.update(updated_at=timezone.now() - timedelta(minutes=5))
    assert orders_reconcile() == 2
    resting.refresh_from_db()
    missed.refresh_from_db()
    assert resting.status == "canceled" and missed.status == "filled"


def test_a_cancel_that_cannot_be_queued_is_still_accepted(
    place, paper_client, monkeypatch, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    from brokers.tasks import order_cancel_task

    order = _order(place({"symbol": "MSFT", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1"}))

    def queue_down(*args, **kwargs):
        raise OperationalError("Redis is away")

    monkeypatch.setattr(order_cancel_task, "delay", queue_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = paper_client.delete(f"/api/orders/{order.pk}")
    assert response.status_code == 202
    order.refresh_from_db()
    assert order.cancel_requested and order.status == "submitted"  # the sweep sends it later
