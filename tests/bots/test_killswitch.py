"""The kill switch: halts bots, refuses orders that open or grow a position (API and bots alike),
lets reducing orders through, flattens on request, and resumes nothing when released."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.models import Bot
from brokers.models import KillSwitch, Order, PaperPosition
from brokers.services.killswitch import kill_switch_flatten
from tests.bots.conftest import signal_of

pytestmark = pytest.mark.django_db

ORDERS = "/api/brokers/user/paper/orders"


@pytest.fixture
def engage(trader, run_on_commit):
    def run(**body):
        response = run_on_commit(lambda: trader.post("/api/kill-switch", body, format="json"))
        assert response.status_code == 200, response.content
        return response.json()

    return run


@pytest.fixture
def order(trader, run_on_commit):
    def place(**body):
        return run_on_commit(lambda: trader.post(ORDERS, {"symbol": "AAPL", "type": "market", **body}, format="json"))

    return place


def test_it_starts_released(trader):
    assert trader.get("/api/kill-switch").json() == {"engaged": False, "since": None, "flatten": False}


def test_engaging_halts_every_bot_of_the_user_and_no_one_elses(trader, make_trader, make_bot, engage):
    mine = [make_bot(trader, name="a"), make_bot(trader, name="b", state="paused"), make_bot(trader, state="draft")]
    stranger = make_trader()
    theirs = make_bot(stranger)
    body = engage()
    assert body["engaged"] is True and body["since"] and body["flatten"] is False
    assert trader.get("/api/kill-switch").json()["engaged"] is True
    for bot in mine:
        assert (bot.row.state, bot.row.halted_reason) == ("halted", "kill_switch")
    assert theirs.row.state == "paper"
    assert trader.get(f"/api/bots/{mine[0].id}").json()["halted_reason"] == "kill_switch"


def test_an_order_that_opens_a_position_is_refused_with_409(engage, order):
    engage()
    response = order(side="buy", qty="1")
    assert response.status_code == 409 and response.json()["error"]["code"] == "kill_switch_engaged"
    assert not Order.objects.exists()


def test_an_order_that_grows_a_position_is_refused_and_one_that_reduces_goes_through(engage, order):
    assert order(side="buy", qty="5").status_code == 202
    engage()
    assert order(side="buy", qty="1").status_code == 409
    assert order(side="sell", qty="6").json()["error"]["code"] == "kill_switch_engaged"  # would turn short
    reducing = order(side="sell", qty="2")
    assert reducing.status_code == 202, reducing.content
    assert Order.objects.get(pk=reducing.json()["id"]).status == "filled"
    assert order(side="sell", qty="3").status_code == 202  # down to flat, still reducing


def test_a_bots_signal_is_refused_with_kill_switch(trader, make_bot, hook, engage):
    bot = make_bot(trader)
    engage()
    signal = signal_of(hook(bot.token, {"action": "buy", "symbol": "AAPL"}))
    assert (signal.status, signal.reason_code) == ("rejected", "kill_switch")


def test_a_bots_opening_order_is_refused_by_order_place_itself(trader, make_bot, hook, monkeypatch):
    """Engaged between the decision and the order: the order service says no, the signal records why."""
    from bots.services import decision

    bot = make_bot(trader)
    monkeypatch.setattr(decision, "kill_switch_is_engaged", lambda **kwargs: False)
    KillSwitch.objects.create(user=trader.user, engaged=True)
    signal = signal_of(hook(bot.token, {"action": "buy", "symbol": "AAPL"}))
    assert (signal.status, signal.reason_code) == ("rejected", "kill_switch")
    assert not Order.objects.exists()


def test_a_bot_cannot_be_started_while_engaged(trader, make_bot, engage, run_on_commit):
    bot = make_bot(trader)
    engage()
    response = run_on_commit(lambda: trader.patch(f"/api/bots/{bot.id}", {"state": "paper"}, format="json"))
    assert response.status_code == 409 and response.json()["error"]["code"] == "kill_switch_engaged"


def test_flatten_cancels_open_orders_and_closes_every_position(trader, engage, order):
    assert order(side="buy", qty="4").status_code == 202
    resting = order(side="buy", qty="1", type="limit", limit_price="1")
    assert resting.status_code == 202 and Order.objects.get(pk=resting.json()["id"]).status == "submitted"
    body = engage(flatten=True)
    assert body["flatten"] is True
    assert Order.objects.get(pk=resting.json()["id"]).status == "canceled"
    closing = Order.objects.filter(user=trader.user, client_order_id__startswith="ks-").get()
    assert (closing.side, closing.qty, closing.status) == ("sell", Decimal(4), "filled")
    assert not PaperPosition.objects.filter(qty__gt=0).exists()


def test_flattening_twice_closes_once(trader, engage, order, run_on_commit):
    order(side="buy", qty="2")
    engage(flatten=True)
    run_on_commit(lambda: kill_switch_flatten(user_id=trader.user.pk))
    assert Order.objects.filter(user=trader.user, client_order_id__startswith="ks-").count() == 1


def test_releasing_resumes_nothing_but_accepts_orders_again(trader, make_bot, engage, order, run_on_commit):
    bot = make_bot(trader)
    engage()
    response = run_on_commit(lambda: trader.delete("/api/kill-switch"))
    assert response.status_code == 200 and response.json() == {"engaged": False, "since": None, "flatten": False}
    assert bot.row.state == "halted"
    assert order(side="buy", qty="1").status_code == 202
    restarted = run_on_commit(lambda: trader.patch(f"/api/bots/{bot.id}", {"state": "paper"}, format="json"))
    assert restarted.status_code == 200 and restarted.json()["halted_reason"] is None
    assert Bot.objects.get(pk=bot.id).state == "paper"


def test_the_kill_switch_body_must_be_an_object(trader):
    assert trader.post("/api/kill-switch", [1], format="json").status_code == 400
