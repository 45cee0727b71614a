"""The decision: every reason a signal is refused, every sizing mode, the order template, the limits,
and failing closed. Signals go in through the webhook; the worker's part runs eagerly."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import redis
from django.utils import timezone

from accounts.models import Tier
from bots.models import Bot, BotDay, BotPosition, Signal
from bots.services.execution import signal_process
from brokers.adapters.base import BrokerUnavailable
from brokers.models import BrokerConnection, ConnectionStatus, Instrument, Order
from brokers.services.instruments import instrument_get
from tests.bots.conftest import signal_of

pytestmark = pytest.mark.django_db

ASK, BID = Decimal("200.02"), Decimal("199.98")  # AAPL pinned at 200: a 2-cent half spread


@pytest.fixture(autouse=True)
def _aapl_at_200(aapl_at):
    aapl_at("200")
    aapl_at("400", "MSFT")


@pytest.fixture
def send(hook):
    """POST a signal to a bot's webhook; returns the recorded signal (decided, orders settled)."""

    def run(bot, **body) -> Signal:
        response = hook(bot.token, {"symbol": "AAPL", **body})
        assert response.status_code == 202, response.content
        return signal_of(response)

    return run


def _orders(signal: Signal) -> list[Order]:
    return list(Order.objects.filter(bot_link__signal=signal).order_by("created_at"))


def _refused(signal: Signal, code: str) -> None:
    signal.refresh_from_db()
    assert (signal.status, signal.reason_code) == ("rejected", code), signal.reason_message
    assert signal.reason_message
    assert not Order.objects.filter(bot_link__signal=signal).exists()


# --- the bot and the signal ------------------------------------------------------------------


def test_a_paused_bot_refuses_with_bot_not_running(trader, make_bot, send):
    bot = make_bot(trader, state="paused")
    _refused(send(bot, action="buy"), "bot_not_running")


def test_a_draft_bot_refuses_with_bot_not_running(trader, make_bot, send):
    bot = make_bot(trader, state="draft")
    _refused(send(bot, action="buy"), "bot_not_running")


def test_an_old_signal_is_refused_as_stale(trader, make_bot, send):
    bot = make_bot(trader, limits={"max_signal_age_seconds": 60})
    old = (timezone.now() - timedelta(seconds=120)).isoformat()
    _refused(send(bot, action="buy", time=old), "stale_signal")
    fresh = send(bot, action="buy", time=int(timezone.now().timestamp() * 1000))  # epoch milliseconds
    assert fresh.status == "executed"


def test_a_symbol_outside_the_allowed_list_is_refused(trader, make_bot, send):
    bot = make_bot(trader, symbols={"allowed": ["aapl"], "map": {}})
    _refused(send(bot, action="buy", symbol="MSFT"), "symbol_not_allowed")
    assert send(bot, action="buy", symbol="AAPL").status == "executed"


def test_the_symbol_map_translates_the_alert_symbol(trader, make_bot, send, aapl_at):
    aapl_at("60000", "BTC/USD")
    bot = make_bot(
        trader,
        symbols={"allowed": ["BTC/USD"], "map": {"BTCUSD": "BTC/USD"}},
        sizing={"mode": "fixed", "value": "0.01"},
    )
    signal = send(bot, action="buy", symbol="BTCUSD")
    assert signal.status == "executed"
    assert [(o.symbol, o.qty) for o in _orders(signal)] == [("BTC/USD", Decimal("0.01"))]


def test_a_symbol_the_broker_does_not_list_is_refused(trader, make_bot, send):
    bot = make_bot(trader)
    _refused(send(bot, action="buy", symbol="NOPE"), "invalid_symbol")


# --- direction and positions -----------------------------------------------------------------


def test_a_long_only_bot_refuses_a_sell_with_no_position(trader, make_bot, send):
    bot = make_bot(trader, direction="long")
    _refused(send(bot, action="sell"), "direction_not_allowed")


def test_a_short_only_bot_refuses_a_buy_with_no_short_to_cover(trader, make_bot, send):
    bot = make_bot(trader, direction="short")
    _refused(send(bot, action="buy"), "direction_not_allowed")


def test_a_broker_that_cannot_sell_short_refuses_a_short(trader, make_bot, send):
    bot = make_bot(trader, direction="short")
    signal = send(bot, action="sell")
    _refused(signal, "direction_not_allowed")
    assert "short" in signal.reason_message


def test_close_with_no_position_is_refused_with_no_position(trader, make_bot, send):
    bot = make_bot(trader)
    _refused(send(bot, action="close"), "no_position")


def test_close_exits_the_bots_whole_position(trader, make_bot, send):
    bot = make_bot(trader, sizing={"mode": "fixed", "value": "3"})
    assert send(bot, action="buy").status == "executed"
    close = send(bot, action="close")
    assert close.status == "executed"
    assert [(o.side, o.qty, o.status) for o in _orders(close)] == [("sell", Decimal(3), "filled")]
    assert BotPosition.objects.get(bot_id=bot.id, symbol="AAPL").qty == 0


def test_a_sell_on_a_long_only_bot_reduces_and_never_goes_short(trader, make_bot, send, run_on_commit):
    bot = make_bot(trader, sizing={"mode": "fixed", "value": "2"})
    send(bot, action="buy")
    run_on_commit(
        lambda: trader.patch(f"/api/bots/{bot.id}", {"sizing": {"mode": "fixed", "value": "5"}}, format="json")
    )
    sell = send(bot, action="sell")
    assert [(o.side, o.qty) for o in _orders(sell)] == [("sell", Decimal(2))]
    assert BotPosition.objects.get(bot_id=bot.id).qty == 0


def test_the_bots_own_position_is_what_it_closes_not_the_accounts(trader, make_bot, send, run_on_commit):
    other = make_bot(trader, name="other", sizing={"mode": "fixed", "value": "7"})
    bot = make_bot(trader, sizing={"mode": "fixed", "value": "2"})
    send(other, action="buy")
    send(bot, action="buy")
    close = send(bot, action="close")
    assert [o.qty for o in _orders(close)] == [Decimal(2)]


# --- sizing ------------------------------------------------------------------------------------


def test_fixed_sizing_times_the_target_multiplier(trader, make_bot, send):
    bot = make_bot(trader, targets=[{"broker": "paper", "multiplier": "2.5"}], sizing={"mode": "fixed", "value": "2"})
    assert [o.qty for o in _orders(send(bot, action="buy"))] == [Decimal(5)]


def test_notional_sizing_at_the_current_quote(trader, make_bot, send):
    bot = make_bot(trader, sizing={"mode": "notional", "value": "1000"})
    (order,) = _orders(send(bot, action="buy"))
    assert order.qty == (Decimal(1000) / ASK).quantize(Decimal("1e-10"), rounding="ROUND_DOWN")
    assert order.qty * ASK <= 1000


def test_percent_equity_sizing_of_the_target_connection(trader, make_bot, send):
    bot = make_bot(trader, sizing={"mode": "percent_equity", "value": "10"})
    (order,) = _orders(send(bot, action="buy"))
    assert order.qty == (Decimal(10_000) / ASK).quantize(Decimal("1e-10"), rounding="ROUND_DOWN")


def test_risk_percent_sizing_from_the_stop_distance(trader, make_bot, send):
    bot = make_bot(trader, sizing={"mode": "risk_percent", "value": "1"})
    (order,) = _orders(send(bot, action="buy", stop_loss="190"))
    assert order.qty == (Decimal(1000) / (ASK - 190)).quantize(Decimal("1e-10"), rounding="ROUND_DOWN")
    assert order.stop_loss_stop_price == Decimal(190)


def test_risk_percent_without_a_stop_is_refused(trader, make_bot, send):
    bot = make_bot(trader, sizing={"mode": "risk_percent", "value": "1"})
    _refused(send(bot, action="buy"), "sizing_unavailable")


def test_signal_sizing_is_the_signals_qty_times_the_value(trader, make_bot, send):
    bot = make_bot(trader, sizing={"mode": "signal", "value": "2"})
    assert [o.qty for o in _orders(send(bot, action="buy", qty="3"))] == [Decimal(6)]
    _refused(send(bot, action="buy"), "sizing_unavailable")


def test_quantities_round_down_to_the_instruments_lot(trader, make_bot, send):
    send_bot = make_bot(trader, sizing={"mode": "notional", "value": "1000"})
    send(send_bot, action="buy", symbol="MSFT")  # caches the instrument rows
    Instrument.objects.update_or_create(
        broker="paper",
        symbol="AAPL",
        defaults={
            "asset_class": "equity",
            "broker_symbol": "AAPL",
            "tick_size": Decimal("0.01"),
            "lot_size": Decimal(1),
            "min_qty": Decimal(1),
            "fractional": False,
            "refreshed_at": timezone.now(),
        },
    )
    (order,) = _orders(send(send_bot, action="buy"))
    assert order.qty == 4  # 1000 / 200.02 = 4.9995: down to the lot, never up past the notional


def test_a_size_that_rounds_to_nothing_is_refused(trader, make_bot, send):
    bot = make_bot(trader, sizing={"mode": "notional", "value": "0.0000000001"})
    _refused(send(bot, action="buy"), "size_too_small")


# --- the order template ------------------------------------------------------------------------


def test_a_limit_template_with_offset_take_profit_and_stop_loss(trader, make_bot, send):
    template = {"type": "limit", "limit_offset_pct": "1", "take_profit_pct": "5", "stop_loss_pct": "2"}
    bot = make_bot(trader, order=template)
    (order,) = _orders(send(bot, action="buy", price="200"))
    assert order.type == "limit" and order.limit_price == Decimal("198.00")
    assert order.take_profit_limit_price == Decimal("207.90")
    assert order.stop_loss_stop_price == Decimal("194.04")


def test_an_inconsistent_bracket_in_the_signal_is_refused(trader, make_bot, send):
    bot = make_bot(trader)
    _refused(send(bot, action="buy", take_profit="180", stop_loss="190"), "order_not_supported")


# --- limits ------------------------------------------------------------------------------------


def test_max_order_notional(trader, make_bot, send):
    bot = make_bot(trader, limits={"max_order_notional": "300"})
    _refused(send(bot, action="buy"), "max_order_notional")  # 2 x 200.02


def test_max_position_notional_counts_the_position_held(trader, make_bot, send):
    bot = make_bot(trader, limits={"max_position_notional": "500"})
    assert send(bot, action="buy").status == "executed"
    _refused(send(bot, action="buy"), "max_position_notional")  # 4 x 200.02


def test_max_open_positions(trader, make_bot, send):
    bot = make_bot(trader, limits={"max_open_positions": 1})
    assert send(bot, action="buy").status == "executed"
    _refused(send(bot, action="buy", symbol="MSFT"), "max_open_positions")
    assert send(bot, action="buy").status == "executed"  # adding to a symbol held is no new position


def test_max_trades_per_day_but_exits_still_pass(trader, make_bot, send):
    bot = make_bot(trader, limits={"max_trades_per_day": 1})
    assert send(bot, action="buy").status == "executed"
    _refused(send(bot, action="buy"), "max_trades_per_day")
    assert send(bot, action="close").status == "executed"


def test_max_daily_loss_on_unrealised_pnl_halts_the_bot(trader, make_bot, send, aapl_at):
    bot = make_bot(trader, sizing={"mode": "fixed", "value": "10"}, limits={"max_daily_loss": "100"})
    assert send(bot, action="buy").status == "executed"
    aapl_at("150")  # 10 x (150 - 200.02): about -500 since the fill
    _refused(send(bot, action="buy"), "max_daily_loss")
    row = bot.row
    assert (row.state, row.halted_reason) == ("halted", "max_daily_loss")
    _refused(send(bot, action="buy"), "bot_not_running")


def test_max_daily_loss_counts_realised_losses(trader, make_bot, send, aapl_at):
    bot = make_bot(trader, sizing={"mode": "fixed", "value": "10"})
    send(bot, action="buy")  # 10 at the ask, 200.02
    aapl_at("150")
    assert send(bot, action="close").status == "executed"  # 10 at the bid, 149.98
    assert BotDay.objects.get(bot_id=bot.id).realized_pnl == Decimal("-500.4")
    Bot.objects.filter(pk=bot.id).update(max_daily_loss=Decimal(100))
    _refused(send(bot, action="buy"), "max_daily_loss")
    assert bot.row.state == "halted"


# --- connections and tiers ---------------------------------------------------------------------


def _live_alpaca(trader, make_bot, run_on_commit, status=ConnectionStatus.CONNECTED):
    BrokerConnection.objects.create(user=trader.user, broker="alpaca", status=status, account_id="PA1")
    bot = make_bot(trader, state="draft", targets=[{"broker": "alpaca", "multiplier": "1"}])
    response = run_on_commit(lambda: trader.patch(f"/api/bots/{bot.id}", {"state": "live"}, format="json"))
    assert response.status_code == 200, response.content
    return bot


@pytest.mark.parametrize("status", [ConnectionStatus.ERROR, ConnectionStatus.PENDING_AUTHORIZATION])
def test_a_broken_target_connection_halts_the_bot_with_broker_unavailable(
    trader, make_bot, send, run_on_commit, status
):
    bot = _live_alpaca(trader, make_bot, run_on_commit, status=status)
    _refused(send(bot, action="buy"), "broker_unavailable")
    assert (bot.row.state, bot.row.halted_reason) == ("halted", "broker_unavailable")


def test_live_on_a_real_broker_needs_premium_at_every_signal(trader, make_bot, send, run_on_commit):
    bot = _live_alpaca(trader, make_bot, run_on_commit)
    type(trader.user).objects.filter(pk=trader.user.pk).update(tier=Tier.FREE)
    _refused(send(bot, action="buy"), "broker_not_allowed")
    assert bot.row.halted_reason == "broker_not_allowed"


def test_a_paper_bot_runs_every_target_on_the_paper_broker(trader, make_bot, send):
    bot = make_bot(trader, targets=[{"broker": "alpaca", "multiplier": "1"}, {"broker": "kraken", "multiplier": "2"}])
    signal = send(bot, action="buy")
    assert signal.status == "executed"
    assert sorted((o.broker, o.qty) for o in _orders(signal)) == [("paper", Decimal(2)), ("paper", Decimal(4))]


def test_a_paper_bot_connects_the_paper_broker_when_missing(make_trader, make_bot, send):
    trader = make_trader(Tier.FREE, paper=False)
    bot = make_bot(trader)
    assert send(bot, action="buy").status == "executed"
    assert BrokerConnection.objects.filter(user=trader.user, broker="paper").exists()


# --- failing closed ------------------------------------------------------------------------------


@pytest.fixture
def recorded(trader, make_bot, hook, monkeypatch):
    """A signal recorded by the webhook but not decided yet (the worker is held back)."""
    from bots.services import intake

    def record(**fields):
        bot = make_bot(trader, **fields)
        with monkeypatch.context() as held:
            held.setattr(intake, "inbox_wake", lambda **kwargs: None)
            response = hook(bot.token, {"action": "buy", "symbol": "AAPL"})
        return signal_of(response)

    return record


def test_redis_down_at_decision_time_refuses_rather_than_placing_unchecked(recorded, monkeypatch, run_on_commit):
    from brokers import ratelimit

    signal = recorded()
    paper = BrokerConnection.objects.get(user=signal.bot.user, broker="paper")
    instrument_get(connection=paper, symbol="AAPL")  # cached: the quote is what needs Redis now

    def down(*args, **kwargs):
        raise redis.ConnectionError("Redis is down")

    monkeypatch.setattr(ratelimit, "_run", down)
    run_on_commit(lambda: signal_process(signal_id=str(signal.pk)))
    _refused(signal, "quote_unavailable")
    assert Bot.objects.get(pk=signal.bot_id).state == "paper"  # a passing outage does not halt the bot


def test_the_quote_source_down_refuses_rather_than_placing_unchecked(recorded, monkeypatch, run_on_commit):
    from watchlist.marketdata import PaperMarketData

    signal = recorded()

    def down(self, symbols):
        raise BrokerUnavailable("the quote source is down")

    monkeypatch.setattr(PaperMarketData, "quotes", down)
    run_on_commit(lambda: signal_process(signal_id=str(signal.pk)))
    _refused(signal, "quote_unavailable")


def test_an_old_quote_is_not_a_price(recorded, monkeypatch, run_on_commit):
    from bots.services import market

    signal = recorded()
    monkeypatch.setattr(market, "QUOTE_MAX_AGE", timedelta(seconds=-1))
    run_on_commit(lambda: signal_process(signal_id=str(signal.pk)))
    _refused(signal, "quote_unavailable")


def test_a_replay_of_an_invalid_payload_is_refused_on_the_worker(trader, make_bot, hook, run_on_commit):
    bot = make_bot(trader)
    bad = signal_of(hook(bot.token, '{"action": "hold", "symbol": "AAPL"}'))
    response = run_on_commit(lambda: trader.post(f"/api/bots/{bot.id}/signals/{bad.pk}/replay"))
    assert response.status_code == 202
    _refused(Signal.objects.get(pk=response.json()["id"]), "invalid_payload")


# --- exactly once --------------------------------------------------------------------------------


def test_deciding_a_signal_again_places_nothing_again(trader, make_bot, send, run_on_commit):
    bot = make_bot(trader)
    signal = send(bot, action="buy")
    (order,) = _orders(signal)
    assert order.client_order_id == f"bt-{signal.pk.hex}-paper-entry"
    run_on_commit(lambda: signal_process(signal_id=str(signal.pk)))  # a redelivered task
    # Even forgetting the decision, the order's client id derives from (signal, target, leg):
    Signal.objects.filter(pk=signal.pk).update(decided_at=None, status="accepted", settled_at=None)
    signal.order_links.all().delete()
    run_on_commit(lambda: signal_process(signal_id=str(signal.pk)))
    assert Order.objects.filter(user=trader.user).count() == 1
    assert [o.pk for o in _orders(signal)] == [order.pk]


def test_a_paper_order_whose_inline_submit_fails_is_queued_and_filled_once(trader, make_bot, send):
    from brokers.adapters.paper.faults import fault_arm, faults_clear

    bot = make_bot(trader)
    fault_arm("server_error", match="place_order")  # the inline submit meets a passing failure
    try:
        signal = send(bot, action="buy")
    finally:
        faults_clear()
    (order,) = _orders(signal)  # its queued task (eager here) submitted it after the inline attempt
    assert (order.status, order.filled_qty, order.submit_attempts) == ("filled", Decimal(2), 2)
    signal.refresh_from_db()
    assert signal.status == "executed"
