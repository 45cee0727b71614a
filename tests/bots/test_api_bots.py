"""The bots API: shapes, validation, the webhook URL shown once, states, isolation, the signal log, replay."""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Tier
from bots.models import Bot, Signal
from brokers.models import BrokerConnection, Order
from tests.bots.conftest import BOT_DEFAULTS, signal_of

pytestmark = pytest.mark.django_db

ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def test_creating_a_bot_returns_it_with_its_webhook_url_once(trader, make_bot):
    bot = make_bot(trader, limits={"max_daily_loss": "250.50", "max_trades_per_day": 10})
    body = bot.body
    assert body["webhook_url"] == f"http://testserver/hooks/bots/{bot.token}" and bot.token.startswith("twb_")
    assert body["state"] == "paper" and body["halted_reason"] is None and body["source"] == "webhook"
    assert body["targets"] == [{"broker": "paper", "multiplier": "1"}]
    assert body["sizing"] == {"mode": "fixed", "value": "2"}
    assert body["order"] == {
        "type": "market",
        "limit_offset_pct": None,
        "time_in_force": None,
        "take_profit_pct": None,
        "stop_loss_pct": None,
    }
    assert body["symbols"] == {"allowed": None, "map": {}}
    assert body["limits"]["max_daily_loss"] == "250.5" and body["limits"]["max_trades_per_day"] == 10
    assert body["stats"] == {"signals_today": 0, "orders_today": 0, "pnl_today": "0"}
    assert Bot.objects.get(pk=bot.id).webhook_token_hash == hashlib.sha256(bot.token.encode()).hexdigest()
    again = trader.get(f"/api/bots/{bot.id}").json()
    assert "webhook_url" not in again and bot.token not in str(again)


def test_a_new_bot_is_a_draft_with_defaults(trader):
    response = trader.post("/api/bots", {"name": "Mine"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["state"], body["direction"], body["published"], body["targets"]) == ("draft", "long", False, [])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"targets": [{"broker": "nope"}]}, "targets"),
        ({"targets": [{"broker": "paper"}, {"broker": "paper"}]}, "targets"),
        ({"sizing": {"mode": "percent_equity", "value": "150"}}, "sizing"),
        ({"sizing": {"mode": "fixed", "value": "0"}}, "sizing"),
        ({"state": "halted"}, "state"),
        ({"source": "telegram"}, "source"),
        ({"limits": {"max_order_notional": "-5"}}, "limits"),
        ({"order": {"type": "stop"}}, "order"),
        ({"direction": "sideways"}, "direction"),
        ({"state": "paper", "targets": []}, "targets"),
    ],
)
def test_invalid_fields_are_named(trader, fields, field):
    response = trader.post("/api/bots", {**BOT_DEFAULTS, **fields}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]


def test_patch_changes_only_what_it_names(trader, make_bot, run_on_commit):
    bot = make_bot(trader, limits={"max_daily_loss": "100", "max_open_positions": 3})
    response = run_on_commit(
        lambda: trader.patch(
            f"/api/bots/{bot.id}", {"limits": {"max_open_positions": 5}, "name": "Renamed"}, format="json"
        )
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "Renamed" and body["limits"]["max_open_positions"] == 5
    assert body["limits"]["max_daily_loss"] == "100" and body["sizing"] == {"mode": "fixed", "value": "2"}


def test_live_on_a_real_broker_needs_premium(make_trader, make_bot, run_on_commit):
    free = make_trader(Tier.FREE)
    bot = make_bot(free, state="draft", targets=[{"broker": "alpaca"}])
    response = run_on_commit(lambda: free.patch(f"/api/bots/{bot.id}", {"state": "live"}, format="json"))
    assert response.status_code == 403 and response.json()["error"]["code"] == "premium_required"


def test_live_needs_the_target_connected(trader, make_bot, run_on_commit):
    bot = make_bot(trader, state="draft", targets=[{"broker": "alpaca"}])
    response = run_on_commit(lambda: trader.patch(f"/api/bots/{bot.id}", {"state": "live"}, format="json"))
    assert response.status_code == 400 and "targets" in response.json()["error"]["fields"]
    BrokerConnection.objects.create(user=trader.user, broker="alpaca", account_id="PA1")
    response = run_on_commit(lambda: trader.patch(f"/api/bots/{bot.id}", {"state": "live"}, format="json"))
    assert response.status_code == 200 and response.json()["state"] == "live"


def test_deleting_a_bot_keeps_its_orders_as_history(trader, make_bot, hook, run_on_commit):
    bot = make_bot(trader)
    hook(bot.token, {"action": "buy", "symbol": "AAPL"})
    assert run_on_commit(lambda: trader.delete(f"/api/bots/{bot.id}")).status_code == 204
    assert trader.get(f"/api/bots/{bot.id}").status_code == 404
    assert Order.objects.filter(user=trader.user).count() == 1


def test_the_list_is_the_users_own_newest_first_with_todays_stats(trader, make_trader, make_bot, hook):
    first, second = make_bot(trader, name="first"), make_bot(trader, name="second")
    make_bot(make_trader(), name="stranger's")
    hook(second.token, {"action": "buy", "symbol": "AAPL"})
    hook(second.token, {"action": "sell", "symbol": "MSFT"})  # refused: still a signal of the day
    body = trader.get("/api/bots").json()
    assert [b["name"] for b in body] == ["second", "first"]
    assert body[0]["stats"]["signals_today"] == 2 and body[0]["stats"]["orders_today"] == 1
    assert first.id == body[1]["id"]


def test_the_list_costs_the_same_queries_for_one_bot_or_many(trader, make_bot):
    make_bot(trader)
    with CaptureQueriesContext(connection) as one:
        assert trader.get("/api/bots").status_code == 200
    for i in range(4):
        make_bot(trader, name=f"more {i}")
    with CaptureQueriesContext(connection) as many:
        assert len(trader.get("/api/bots").json()) == 5
    assert len(many) == len(one)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/bots/{id}"),
        ("patch", "/api/bots/{id}"),
        ("delete", "/api/bots/{id}"),
        ("post", "/api/bots/{id}/webhook"),
        ("get", "/api/bots/{id}/signals"),
        ("post", "/api/bots/{id}/signals/{signal}/replay"),
    ],
)
def test_another_users_bot_is_a_404_everywhere(trader, make_trader, make_bot, hook, method, path):
    owner = make_trader()
    bot = make_bot(owner)
    signal = signal_of(hook(bot.token, {"action": "buy", "symbol": "AAPL"}))
    url = path.format(id=bot.id, signal=signal.pk)
    response = getattr(trader, method)(url, {"name": "mine now"}, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert Bot.objects.get(pk=bot.id).name == "Trend"


@pytest.mark.parametrize("path", ["/api/bots/not-a-uuid", f"/api/bots/{ZERO_UUID}/signals"])
def test_unknown_bots_are_404(trader, path):
    assert trader.get(path).status_code == 404


def test_the_api_needs_authentication(api):
    for path in ("/api/bots", "/api/kill-switch"):
        assert api.get(path).status_code == 401


def test_active_bots_counts_the_users_paper_and_live_bots(trader, make_bot):
    make_bot(trader, name="p1")
    make_bot(trader, name="p2")
    make_bot(trader, name="d", state="draft")
    make_bot(trader, name="s", state="paused")
    assert trader.get("/api/portfolio").json()["active_bots"] == 2


# --- the signal log ---------------------------------------------------------------------------


def test_the_signal_log_newest_first_with_reasons_and_orders(trader, make_bot, hook):
    bot = make_bot(trader)
    executed = signal_of(hook(bot.token, {"action": "buy", "symbol": "AAPL", "id": "one"}))
    rejected = signal_of(hook(bot.token, {"action": "sell", "symbol": "MSFT"}))
    records = trader.get(f"/api/bots/{bot.id}/signals").json()
    assert [r["id"] for r in records] == [str(rejected.pk), str(executed.pk)]
    first, second = records[1], records[0]
    assert first["status"] == "executed" and first["reason"] is None and first["replay_of"] is None
    assert first["payload"] == {"action": "buy", "symbol": "AAPL", "id": "one"}
    (order,) = first["orders"]
    assert (order["broker"], order["symbol"], order["side"], order["qty"], order["status"]) == (
        "paper",
        "AAPL",
        "buy",
        "2",
        "filled",
    )
    assert second["reason"]["code"] == "direction_not_allowed" and second["orders"] == []
    only = trader.get(f"/api/bots/{bot.id}/signals?status=rejected").json()
    assert [r["id"] for r in only] == [str(rejected.pk)]
    assert len(trader.get(f"/api/bots/{bot.id}/signals?limit=1").json()) == 1


@pytest.mark.parametrize("query", ["status=done", "limit=0", "limit=abc"])
def test_the_signal_log_refuses_unknown_filters(trader, make_bot, query):
    bot = make_bot(trader)
    assert trader.get(f"/api/bots/{bot.id}/signals?{query}").status_code == 400


def test_a_replay_runs_the_recorded_signal_again_on_paper(trader, make_bot, hook, run_on_commit):
    bot = make_bot(trader)
    original = signal_of(hook(bot.token, {"action": "buy", "symbol": "AAPL", "id": "orig"}))
    run_on_commit(lambda: trader.patch(f"/api/bots/{bot.id}", {"state": "paused"}, format="json"))
    response = run_on_commit(lambda: trader.post(f"/api/bots/{bot.id}/signals/{original.pk}/replay"))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["replay_of"] == str(original.pk) and body["id"] != str(original.pk) and body["status"] == "accepted"
    replay = Signal.objects.get(pk=body["id"])
    assert replay.status == "executed"  # a paused bot's replay still runs: it is asked for
    (order,) = Order.objects.filter(bot_link__signal=replay)
    assert order.broker == "paper" and order.status == "filled"


def test_replaying_an_unknown_signal_is_a_404(trader, make_bot):
    bot = make_bot(trader)
    assert trader.post(f"/api/bots/{bot.id}/signals/{ZERO_UUID}/replay").status_code == 404
