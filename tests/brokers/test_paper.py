"""The paper broker's adapter and matching engine, with the market clock under the test's control."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

import pytest
from django.db import OperationalError, connection

from brokers.adapters.base import (
    AdapterContext,
    BrokerAdapter,
    BrokerUnavailable,
    InsufficientFunds,
    InvalidSymbol,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from brokers.adapters.paper import PaperAdapter, match_open_orders
from brokers.adapters.paper.engine import bracket_parent_id
from brokers.adapters.paper.market import market_quote
from brokers.adapters.paper.universe import LISTINGS
from brokers.adapters.registry import build_adapter
from brokers.models import PaperAccount, PaperOrder

T0 = datetime(2025, 3, 3, 14, 30, 7, tzinfo=UTC)
CASH = Decimal("100000.00")
T = TypeVar("T")


class Clock:
    """The market time the adapter sees; tests move it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def paper(user, clock) -> PaperAdapter:
    adapter = PaperAdapter({}, paper=True, context=AdapterContext(user_id=user.pk), clock=clock)
    adapter.connect()
    return adapter


def order(symbol="AAPL", side=Side.BUY, kind=OrderType.MARKET, qty="1", cid=None, **prices) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid or uuid.uuid4().hex, symbol=symbol, side=side, type=kind, qty=Decimal(qty), **prices
    )


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def extreme(
    symbol: str, after: datetime, field: str, *, highest: bool, horizon: int = 7_200
) -> tuple[datetime, Decimal]:
    """The first second in the `horizon` after `after` where the quote's `field` peaks (or bottoms), and its value.

    Picking a limit or stop from a future quote lets a test know exactly when it becomes due.
    """
    moments = [after + timedelta(seconds=offset) for offset in range(1, horizon)]
    values = [getattr(market_quote(symbol, moment), field) for moment in moments]
    best = max(values) if highest else min(values)
    return moments[values.index(best)], best


def matched(now: datetime) -> list[OrderState]:
    """Every change one matching pass reports, whoever's account it is in."""
    return [state for states in match_open_orders(now).values() for state in states]


# --- the account ----------------------------------------------------------------------------


def test_it_is_a_broker_adapter_built_by_the_registry(user):
    adapter = build_adapter("paper", {}, paper=True, context=AdapterContext(user_id=user.pk))
    assert isinstance(adapter, PaperAdapter)
    assert isinstance(adapter, BrokerAdapter)


def test_it_opens_one_account_per_user_with_100k_usd(user, clock):
    adapter = PaperAdapter({}, paper=True, context=AdapterContext(user_id=user.pk), clock=clock)
    account = adapter.connect()
    assert (account.id, account.currency, account.paper) == (f"paper-{user.pk}", "USD", True)
    PaperAccount.objects.filter(account_id=account.id).update(cash=Decimal(5))
    assert adapter.connect() == account
    assert PaperAccount.objects.get().cash == 5  # connecting again never resets the books


def test_it_starts_with_cash_equity_and_buying_power_of_100k(paper, clock):
    balance = paper.balance()
    assert (balance.currency, balance.cash, balance.equity, balance.buying_power) == ("USD", CASH, CASH, CASH)
    assert balance.as_of == clock.now


def test_it_declares_crypto_maker_and_taker_fees(paper):
    fees = paper.fees()
    assert (fees.maker_pct, fees.taker_pct, fees.currency) == (Decimal("0.15"), Decimal("0.25"), "USD")
    assert "commission-free" in fees.note


def test_it_quotes_and_describes_instruments_like_the_market(paper, clock):
    assert paper.quotes(["btc/usd", "NOPE"]) == {"BTC/USD": market_quote("BTC/USD", clock.now)}
    msft = paper.instrument(" msft ")
    assert (msft.symbol, msft.asset_class, msft.tick_size, msft.fractional) == ("MSFT", "equity", Decimal("0.01"), True)
    assert paper.instrument("doge/usd").tick_size == Decimal("0.00001")
    assert {i.symbol for i in paper.instruments()} == set(LISTINGS)
    with pytest.raises(InvalidSymbol):
        paper.instrument("MSFT/XYZ")


def test_it_reports_changes_by_the_account_owner(paper, clock, user, make_user):
    other_user = make_user()
    other = PaperAdapter({}, paper=True, context=AdapterContext(user_id=other_user.pk), clock=clock)
    fill_at, limit = extreme("SOL/USD", clock.now, "ask", highest=False)
    mine = paper.place_order(order("SOL/USD", kind=OrderType.LIMIT, qty="2", limit_price=limit))
    theirs = other.place_order(order("SOL/USD", kind=OrderType.LIMIT, qty="3", limit_price=limit))
    changes = match_open_orders(fill_at)
    assert {u: [s.broker_order_id for s in states] for u, states in changes.items()} == {
        user.pk: [mine.broker_order_id],
        other_user.pk: [theirs.broker_order_id],
    }


# --- market orders, cash, positions ---------------------------------------------------------


def test_it_fills_a_crypto_market_buy_at_the_ask_with_the_taker_fee(paper, clock):
    quote = market_quote("BTC/USD", clock.now)
    state = paper.place_order(order("btc/usd", qty="0.5"))
    notional = cents(Decimal("0.5") * quote.ask)
    fee = cents(notional * Decimal("0.0025"))
    assert (state.status, state.symbol, state.filled_qty, state.avg_fill_price) == ("filled", "BTC/USD", 0.5, quote.ask)
    assert state.fee == fee > 0
    balance = paper.balance()
    assert balance.cash == CASH - notional - fee == balance.buying_power
    [position] = paper.positions()
    assert (position.symbol, position.qty, position.avg_price, position.market_price) == (
        "BTC/USD",
        Decimal("0.5"),
        quote.ask,
        quote.price,
    )
    assert position.market_value == cents(Decimal("0.5") * quote.price)
    assert position.unrealized_pnl == cents((quote.price - quote.ask) * Decimal("0.5")) < 0
    assert balance.equity == balance.cash + position.market_value


def test_it_trades_stocks_commission_free_and_fractionally(paper, clock):
    ask = market_quote("AAPL", clock.now).ask
    state = paper.place_order(order("AAPL", qty="2.5"))
    assert state.fee == 0 and state.avg_fill_price == ask
    assert paper.balance().cash == CASH - cents(Decimal("2.5") * ask)


def test_it_averages_the_price_of_repeated_buys(paper, clock):
    first = paper.place_order(order("MSFT", qty="1")).avg_fill_price
    clock.now += timedelta(hours=3)
    second = paper.place_order(order("MSFT", qty="3")).avg_fill_price
    [position] = paper.positions()
    assert position.qty == 4
    assert position.avg_price == ((first + 3 * second) / 4).quantize(Decimal("1e-10")).normalize()


def test_it_sells_at_the_bid_reduces_the_position_and_realises_the_pnl(paper, clock):
    bought = paper.place_order(order("AAPL", qty="10")).avg_fill_price
    clock.now += timedelta(days=2)
    bid = market_quote("AAPL", clock.now).bid
    state = paper.place_order(order("AAPL", Side.SELL, qty="4"))
    assert (state.status, state.avg_fill_price) == ("filled", bid)
    [position] = paper.positions()
    assert (position.qty, position.avg_price) == (6, bought)  # selling keeps the average
    realised = (bid - bought) * 4
    assert paper.balance().cash == CASH - 10 * bought + 4 * bid == CASH - 6 * bought + realised


def test_it_closes_the_position_when_everything_is_sold(paper):
    paper.place_order(order("ETH/USD", qty="1.25"))
    paper.place_order(order("ETH/USD", Side.SELL, qty="1.25"))
    assert paper.positions() == []
    assert paper.balance().cash < CASH  # the spread and two taker fees


def test_it_refuses_to_sell_more_than_it_holds(paper):
    paper.place_order(order("TSLA", qty="2"))
    with pytest.raises(OrderRejected, match="no short selling"):
        paper.place_order(order("TSLA", Side.SELL, qty="3", cid="too-many"))
    with pytest.raises(OrderRejected):
        paper.place_order(order("NVDA", Side.SELL, kind=OrderType.LIMIT, qty="1", limit_price=Decimal(1)))
    assert paper.find_order("too-many").status == OrderStatus.REJECTED
    assert paper.positions()[0].qty == 2


def test_it_raises_insufficient_funds_and_records_the_rejection(paper):
    with pytest.raises(InsufficientFunds, match=r"cash is 100000\.00 USD"):
        paper.place_order(order("BTC/USD", qty="2", cid="whale"))
    rejected = paper.find_order("whale")
    assert rejected.status == OrderStatus.REJECTED and "needs" in rejected.reason
    assert paper.place_order(order("BTC/USD", qty="2", cid="whale")) == rejected  # a retry is not a new order
    assert paper.balance().cash == CASH and paper.positions() == []


def test_it_checks_a_resting_buy_against_its_limit_price(paper, clock):
    limit = market_quote("SPY", clock.now).bid * Decimal("0.9")
    affordable = (CASH / limit).quantize(Decimal(1)) - 1
    assert paper.place_order(order("SPY", kind=OrderType.LIMIT, qty=str(affordable), limit_price=limit)).status == (
        OrderStatus.SUBMITTED
    )
    with pytest.raises(InsufficientFunds):
        paper.place_order(order("SPY", kind=OrderType.LIMIT, qty=str(affordable + 2), limit_price=limit))


def test_it_rejects_a_resting_buy_the_cash_no_longer_covers_at_fill_time(paper, clock):
    fill_at, limit = extreme("AAPL", clock.now, "ask", highest=False)
    resting = paper.place_order(order("AAPL", kind=OrderType.LIMIT, qty="400", limit_price=limit))
    paper.place_order(order("BTC/USD", qty="0.5"))  # spends the cash the limit buy counted on
    [state] = matched(fill_at)
    assert (state.broker_order_id, state.status) == (resting.broker_order_id, OrderStatus.REJECTED)
    assert "insufficient" in state.reason.lower() or "needs" in state.reason
    assert paper.balance().cash > 0 and [p.symbol for p in paper.positions()] == ["BTC/USD"]


def test_it_records_an_invalid_symbol_nowhere(paper):
    with pytest.raises(InvalidSymbol):
        paper.place_order(order("NOPE/USD", cid="nope"))
    assert paper.find_order("nope") is None


@pytest.mark.parametrize(
    ("kind", "prices", "message"),
    [
        (OrderType.LIMIT, {}, "needs a limit price"),
        (OrderType.STOP, {}, "needs a stop price"),
        (OrderType.MARKET, {"take_profit_limit_price": Decimal(1), "stop_loss_stop_price": Decimal(2)}, "above"),
    ],
)
def test_it_rejects_malformed_orders(paper, kind, prices, message):
    with pytest.raises(OrderRejected, match=message):
        paper.place_order(order("AAPL", kind=kind, cid="bad", **prices))
    assert paper.find_order("bad").status == OrderStatus.REJECTED


# --- resting orders and the matching pass ---------------------------------------------------


def test_it_fills_a_marketable_limit_at_once_at_the_better_ask(paper, clock):
    quote = market_quote("BTC/USD", clock.now)
    state = paper.place_order(order("BTC/USD", kind=OrderType.LIMIT, qty="0.1", limit_price=quote.ask + 500))
    assert (state.status, state.avg_fill_price) == (OrderStatus.FILLED, quote.ask)
    assert state.fee == cents(cents(Decimal("0.1") * quote.ask) * Decimal("0.0025"))  # taker


def test_it_rests_a_limit_buy_then_fills_it_as_a_maker_when_the_ask_comes_down(paper, clock):
    fill_at, limit = extreme("BTC/USD", clock.now, "ask", highest=False)
    resting = paper.place_order(order("BTC/USD", kind=OrderType.LIMIT, qty="0.2", limit_price=limit))
    assert resting.status == OrderStatus.SUBMITTED and paper.open_orders() == [resting]
    assert matched(clock.now) == []
    [filled] = matched(fill_at)
    assert (filled.broker_order_id, filled.status, filled.avg_fill_price) == (resting.broker_order_id, "filled", limit)
    assert filled.fee == cents(cents(Decimal("0.2") * limit) * Decimal("0.0015"))  # maker
    assert paper.get_order(resting.broker_order_id) == filled
    assert matched(fill_at) == [] and paper.open_orders() == []


def test_it_fires_a_buy_stop_when_the_price_rises_through_it(paper, clock):
    fires, stop = extreme("NVDA", clock.now, "price", highest=True)
    resting = paper.place_order(order("NVDA", kind=OrderType.STOP, qty="3", stop_price=stop))
    assert resting.status == OrderStatus.SUBMITTED
    assert matched(fires - timedelta(seconds=1)) == []
    [state] = matched(fires)
    assert (state.status, state.avg_fill_price) == (OrderStatus.FILLED, market_quote("NVDA", fires).ask)


def test_it_fires_a_sell_stop_when_the_price_falls_through_it(paper, clock):
    paper.place_order(order("AMZN", qty="5"))
    fires, stop = extreme("AMZN", clock.now, "price", highest=False)
    paper.place_order(order("AMZN", Side.SELL, kind=OrderType.STOP, qty="5", stop_price=stop))
    assert matched(fires - timedelta(seconds=1)) == []
    [state] = matched(fires)
    assert (state.status, state.avg_fill_price) == (OrderStatus.FILLED, market_quote("AMZN", fires).bid)
    assert paper.positions() == []


def test_it_turns_a_fired_stop_limit_into_a_resting_limit(paper, clock):
    fires, stop = extreme("META", clock.now, "price", highest=True)
    fills, limit = extreme("META", fires, "ask", highest=False)
    assert limit < market_quote("META", fires).ask  # so the stop fires without the limit being reachable
    resting = paper.place_order(order("META", kind=OrderType.STOP_LIMIT, qty="1", stop_price=stop, limit_price=limit))
    [triggered] = matched(fires)
    assert (triggered.status, triggered.filled_qty) == (OrderStatus.SUBMITTED, 0)
    assert PaperOrder.objects.get(pk=resting.broker_order_id).stop_price is None
    [filled] = matched(fills)
    assert (filled.status, filled.avg_fill_price) == (OrderStatus.FILLED, market_quote("META", fills).ask)


def test_it_fills_a_stop_limit_at_once_when_its_stop_has_fired_and_its_limit_is_reachable(paper, clock):
    quote = market_quote("AAPL", clock.now)
    request = order("AAPL", kind=OrderType.STOP_LIMIT, stop_price=quote.price - 1, limit_price=quote.ask + 1)
    state = paper.place_order(request)
    assert (state.status, state.avg_fill_price) == (OrderStatus.FILLED, quote.ask)


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK])
def test_it_cancels_an_immediate_only_limit_it_cannot_fill(paper, clock, tif):
    limit = market_quote("AAPL", clock.now).bid - 5
    state = paper.place_order(order("AAPL", kind=OrderType.LIMIT, limit_price=limit, time_in_force=tif))
    assert state.status == OrderStatus.CANCELED and tif in state.reason
    assert paper.open_orders() == []


@pytest.mark.parametrize("tif", [TimeInForce.DAY, TimeInForce.GTC])
def test_it_rests_day_and_gtc_limits(paper, clock, tif):
    limit = market_quote("AAPL", clock.now).bid - 5
    assert paper.place_order(order("AAPL", kind=OrderType.LIMIT, limit_price=limit, time_in_force=tif)).status == (
        "submitted"
    )


def test_it_matches_every_account_and_reports_only_what_changed(paper, clock, make_user):
    other = PaperAdapter({}, paper=True, context=AdapterContext(user_id=make_user().pk), clock=clock)
    fill_at, limit = extreme("SOL/USD", clock.now, "ask", highest=False)
    mine = paper.place_order(order("SOL/USD", kind=OrderType.LIMIT, qty="2", limit_price=limit))
    theirs = other.place_order(order("SOL/USD", kind=OrderType.LIMIT, qty="3", limit_price=limit))
    never = paper.place_order(order("SOL/USD", kind=OrderType.LIMIT, qty="1", limit_price=limit / 2))
    changed = matched(fill_at)
    assert {s.broker_order_id for s in changed} == {mine.broker_order_id, theirs.broker_order_id}
    assert [s.broker_order_id for s in paper.open_orders()] == [never.broker_order_id]
    assert other.positions()[0].qty == 3


# --- brackets -------------------------------------------------------------------------------


def _bracket(paper: PaperAdapter, take: Decimal, stop: Decimal, **extra: Decimal) -> OrderState:
    return paper.place_order(order("AAPL", qty="5", take_profit_limit_price=take, stop_loss_stop_price=stop, **extra))


def test_it_puts_both_bracket_legs_on_the_book_when_the_parent_fills(paper, clock):
    price = market_quote("AAPL", clock.now).price
    parent = _bracket(paper, price + 5, price - 5)
    assert parent.status == OrderStatus.FILLED
    legs = {s.client_order_id: s for s in paper.open_orders()}
    assert set(legs) == {f"{parent.broker_order_id}:tp", f"{parent.broker_order_id}:sl"}
    tp, sl = legs[f"{parent.broker_order_id}:tp"], legs[f"{parent.broker_order_id}:sl"]
    assert (tp.side, tp.type, tp.qty, tp.status) == (Side.SELL, OrderType.LIMIT, 5, OrderStatus.SUBMITTED)
    assert (sl.side, sl.type, sl.qty, sl.status) == (Side.SELL, OrderType.STOP, 5, OrderStatus.SUBMITTED)
    assert bracket_parent_id(tp.client_order_id) == parent.broker_order_id
    assert bracket_parent_id("my-own:tp") is None


def test_it_cancels_the_stop_loss_when_the_take_profit_fills(paper, clock):
    fills, take = extreme("AAPL", clock.now, "bid", highest=True)
    parent = _bracket(paper, take, market_quote("AAPL", clock.now).price * Decimal("0.9"))
    changed = {s.client_order_id: s for s in matched(fills)}
    assert changed[f"{parent.broker_order_id}:tp"].status == OrderStatus.FILLED
    assert changed[f"{parent.broker_order_id}:sl"].status == OrderStatus.CANCELED
    assert paper.open_orders() == [] and paper.positions() == []


def test_it_cancels_the_take_profit_when_the_stop_loss_fires(paper, clock):
    fires, stop = extreme("AAPL", clock.now, "price", highest=False)
    parent = _bracket(
        paper, market_quote("AAPL", clock.now).price * Decimal("1.1"), stop, stop_loss_limit_price=stop - 1
    )
    changed = {s.client_order_id: s for s in matched(fires)}
    sl = changed[f"{parent.broker_order_id}:sl"]
    assert (sl.type, sl.status, sl.avg_fill_price) == (OrderType.STOP_LIMIT, "filled", market_quote("AAPL", fires).bid)
    assert changed[f"{parent.broker_order_id}:tp"].status == OrderStatus.CANCELED
    assert paper.positions() == []


def test_it_holds_the_legs_of_a_resting_parent_and_cancels_them_with_it(paper, clock):
    limit = market_quote("AAPL", clock.now).bid - 10
    parent = paper.place_order(
        order("AAPL", kind=OrderType.LIMIT, limit_price=limit, take_profit_limit_price=limit + 20)
    )
    [leg] = [s for s in paper.open_orders() if s.client_order_id.endswith(":tp")]
    assert leg.status == OrderStatus.PENDING  # held until the parent fills
    paper.cancel_order(parent.broker_order_id)
    assert paper.get_order(leg.broker_order_id).status == OrderStatus.CANCELED
    assert paper.open_orders() == []


def test_it_refuses_a_bracket_on_a_sell(paper):
    paper.place_order(order("AAPL", qty="1"))
    with pytest.raises(OrderRejected, match="no short selling"):
        paper.place_order(order("AAPL", Side.SELL, take_profit_limit_price=Decimal(1)))


# --- idempotency, cancel, history -----------------------------------------------------------


def test_it_places_one_order_per_client_order_id(paper):
    first = paper.place_order(order("AAPL", qty="1", cid="once"))
    again = paper.place_order(order("AAPL", qty="1", cid="once"))
    assert again == first
    assert PaperOrder.objects.count() == 1 and paper.positions()[0].qty == 1


def race(count: int, call: Callable[[], T]) -> list[T]:
    """Run `call` in `count` threads released at once; temporary failures are retried, as callers do.

    The in-memory SQLite test database reports a lock conflict at once instead of waiting for it.
    """
    barrier, results, errors = threading.Barrier(count), [], []

    def run() -> None:
        try:
            barrier.wait()
            results.append(_retried(call))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def _retried(call: Callable[[], T]) -> T:
    for _ in range(200):
        try:
            return call()
        except (BrokerUnavailable, OperationalError):
            time.sleep(0.01)
    return call()


@pytest.mark.django_db(transaction=True)
def test_it_places_one_order_when_threads_race_on_a_client_order_id(user, clock):
    adapter = PaperAdapter({}, paper=True, context=AdapterContext(user_id=user.pk), clock=clock)
    adapter.connect()
    results = race(6, lambda: adapter.place_order(order("BTC/USD", qty="0.1", cid="race")))
    assert len({r.broker_order_id for r in results}) == 1 and len(results) == 6
    assert PaperOrder.objects.count() == 1
    assert adapter.positions()[0].qty == Decimal("0.1")
    assert adapter.balance().cash == CASH - cents(results[0].avg_fill_price / 10) - results[0].fee


@pytest.mark.django_db(transaction=True)
def test_it_fills_a_resting_order_once_when_matching_passes_race(user, clock):
    adapter = PaperAdapter({}, paper=True, context=AdapterContext(user_id=user.pk), clock=clock)
    adapter.connect()
    fill_at, limit = extreme("ETH/USD", clock.now, "ask", highest=False)
    adapter.place_order(order("ETH/USD", kind=OrderType.LIMIT, qty="1", limit_price=limit))
    reports = race(4, lambda: matched(fill_at))
    assert sorted(len(r) for r in reports) == [0, 0, 0, 1]
    assert adapter.positions()[0].qty == 1
    assert adapter.balance().cash == CASH - limit - cents(limit * Decimal("0.0015"))


def test_it_cancels_a_resting_order_once(paper, clock):
    limit = market_quote("AAPL", clock.now).bid - 10
    resting = paper.place_order(order("AAPL", kind=OrderType.LIMIT, limit_price=limit))
    canceled = paper.cancel_order(resting.broker_order_id)
    assert canceled.status == OrderStatus.CANCELED and paper.open_orders() == []
    assert paper.cancel_order(resting.broker_order_id).status == OrderStatus.CANCELED
    clock.now += timedelta(days=30)
    assert matched(clock.now) == []


def test_it_refuses_to_cancel_a_filled_order(paper):
    filled = paper.place_order(order("AAPL"))
    with pytest.raises(OrderRejected, match="already filled"):
        paper.cancel_order(filled.broker_order_id)


def test_it_knows_only_its_own_orders(paper, clock, make_user):
    other = PaperAdapter({}, paper=True, context=AdapterContext(user_id=make_user().pk), clock=clock)
    theirs = other.place_order(order("AAPL", cid="shared-id"))
    for unknown in (theirs.broker_order_id, str(uuid.uuid4()), "not-a-uuid"):
        with pytest.raises(OrderNotFound):
            paper.get_order(unknown)
        with pytest.raises(OrderNotFound):
            paper.cancel_order(unknown)
    assert paper.find_order("shared-id") is None
    assert paper.place_order(order("AAPL", cid="shared-id")).broker_order_id != theirs.broker_order_id


def test_it_lists_history_newest_first_up_to_the_limit(paper, clock):
    placed = [paper.place_order(order("AAPL", qty=str(n))) for n in range(1, 5)]
    limit = market_quote("AAPL", clock.now).bid - 10
    placed.append(paper.place_order(order("AAPL", kind=OrderType.LIMIT, limit_price=limit)))
    history = paper.order_history(limit=3)
    assert [s.broker_order_id for s in history] == [s.broker_order_id for s in reversed(placed)][:3]
    assert len(paper.order_history()) == 5
    assert [s.broker_order_id for s in paper.open_orders()] == [placed[-1].broker_order_id]


def test_it_reports_quantities_plainly_without_the_databases_trailing_zeros(paper, clock):
    paper.place_order(order("AAPL", qty="1.5"))
    state = paper.order_history()[0]
    assert all(type(v) is Decimal for v in (state.qty, state.filled_qty, state.avg_fill_price, state.fee))
    assert str(state.qty) == "1.5"  # plain, without the database's trailing zeros
