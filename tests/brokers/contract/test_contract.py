"""The broker contract: what every registry broker does through our services, driven against its simulator.

Parametrised over the registry (tests/brokers/contract/conftest.py). A broker's own test module
(tests/brokers/adapters/test_<broker>.py) adds only what is unique to it.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from decimal import Decimal

import pytest

from brokers.adapters.base import (
    AuthenticationFailed,
    BrokerAdapter,
    BrokerUnavailable,
    InvalidSymbol,
    OrderStatus,
    OrderType,
    RateLimited,
)
from brokers.adapters.registry import build_adapter
from brokers.models import BalanceSnapshot, ConnectionStatus, Fill, Order, PositionSnapshot
from brokers.services.connections import connection_refresh, connection_test
from brokers.services.instruments import instrument_get
from brokers.services.orders import brackets_watch, order_cancel, order_cancel_request
from brokers.sessions import broker_session
from tests.brokers.contract.conftest import away_from, deliver_updates, eventually, place, submit
from tests.brokers.contract.harness import Harness

pytestmark = pytest.mark.django_db(transaction=True)
OPEN = {OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING}
DONE = {OrderStatus.FILLED}


def market_buy(connection, harness, **extra) -> Order:
    return place(connection, symbol=harness.symbol, side="buy", type="market", qty=harness.qty, **extra)


def resting_buy(connection, harness) -> Order:
    limit = away_from(connection, harness.symbol, harness.price(harness.symbol), "-0.2")
    return place(connection, symbol=harness.symbol, side="buy", type="limit", qty=harness.qty, limit_price=limit)


def filled(connection, order: Order) -> Order:
    if order.status != OrderStatus.FILLED:
        order = deliver_updates(connection, order, until=DONE)
    return order


# --- the account ------------------------------------------------------------------------------


def test_it_is_an_adapter_of_the_interface(spec, harness, owner):
    from brokers.adapters.base import AdapterContext

    adapter = build_adapter(spec.key, harness.credentials, paper=harness.paper, context=AdapterContext(owner.pk))
    try:
        assert isinstance(adapter, BrokerAdapter)
        assert isinstance(harness, Harness)
    finally:
        adapter.close()


def test_it_connects_and_describes_the_account(connection):
    assert connection.status == ConnectionStatus.CONNECTED, connection.last_error
    assert connection.account_id and len(connection.currency) == 3


@pytest.mark.brokers_where(lambda spec: spec.auth != "none")
def test_it_refuses_wrong_credentials_with_an_actionable_message(spec, harness, owner):
    with pytest.raises(AuthenticationFailed) as refused:
        connection_test(user=owner, spec=spec, credentials=harness.bad_credentials, paper=harness.paper)
    message = refused.value.message
    assert len(message) > 20
    assert not any(len(secret) > 6 and secret in message for secret in harness.bad_credentials.values())


def test_it_reads_the_balance_in_the_accounts_currency(connection):
    snapshot = connection_refresh(connection=connection)
    assert snapshot is not None and snapshot.currency == connection.currency
    assert isinstance(snapshot.cash, Decimal) and snapshot.cash > 0 and snapshot.equity >= snapshot.cash * 0


def test_it_fills_a_market_buy_and_shows_the_position(connection, harness):
    order = filled(connection, market_buy(connection, harness))
    assert order.status == OrderStatus.FILLED and order.filled_qty == harness.qty
    assert order.avg_fill_price and order.broker_order_id
    assert sum(f.qty for f in Fill.objects.filter(order=order)) == harness.qty
    connection_refresh(connection=connection)
    held = PositionSnapshot.objects.get(connection=connection, symbol=harness.symbol)
    assert held.qty >= harness.qty


# --- orders ---------------------------------------------------------------------------------------


def test_it_places_every_order_type_it_declares(spec, connection, harness):
    price = harness.price(harness.symbol)
    below, above = (away_from(connection, harness.symbol, price, f) for f in ("-0.2", "0.2"))
    shapes = {
        OrderType.MARKET: {},
        OrderType.LIMIT: {"limit_price": below},
        OrderType.STOP: {"stop_price": above},
        OrderType.STOP_LIMIT: {
            "stop_price": above,
            "limit_price": away_from(connection, harness.symbol, price, "0.25"),
        },
    }
    for kind in spec.capabilities.order_types:
        order = place(connection, symbol=harness.symbol, side="buy", type=kind.value, qty=harness.qty, **shapes[kind])
        if kind == OrderType.MARKET:
            order = filled(connection, order)
        assert order.status in (DONE if kind == OrderType.MARKET else OPEN), (kind, order.status, order.error_message)
        assert order.broker_order_id, kind


def test_it_fills_a_resting_order_when_the_market_reaches_it(connection, harness):
    order = resting_buy(connection, harness)
    assert order.status in OPEN
    harness.fill(order.broker_order_id)
    order = deliver_updates(connection, order, until=DONE)
    assert (order.status, order.filled_qty) == (OrderStatus.FILLED, harness.qty)


def test_it_cancels_a_resting_order(connection, harness):
    order = resting_buy(connection, harness)
    order_cancel_request(order=order)
    order_cancel(order_id=str(order.pk))
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELED


def bracket(spec, connection, harness) -> tuple[Order, dict[str, Order]]:
    """A filled market buy with both exit legs, its legs working (emulated: the take-profit sent)."""
    price = harness.price(harness.symbol)
    take = away_from(connection, harness.symbol, price, "0.3")
    stop = away_from(connection, harness.symbol, price, "-0.3")
    entry = filled(connection, market_buy(connection, harness, take_profit_limit_price=take, stop_loss_stop_price=stop))
    assert entry.status == OrderStatus.FILLED and entry.bracket == spec.capabilities.bracket
    legs = {leg.leg: leg for leg in Order.objects.filter(parent=entry)}
    assert set(legs) == {"take_profit", "stop_loss"}
    assert (legs["take_profit"].side, legs["take_profit"].limit_price) == ("sell", take)
    assert (legs["stop_loss"].side, legs["stop_loss"].stop_price) == ("sell", stop)
    if spec.capabilities.bracket == "emulated":
        submit(legs["take_profit"])
    return entry, {name: Order.objects.get(pk=leg.pk) for name, leg in legs.items()}


@pytest.mark.brokers_where(lambda spec: spec.capabilities.bracket != "none")
def test_it_places_a_bracket_with_both_exit_legs(spec, connection, harness):
    _, legs = bracket(spec, connection, harness)
    assert legs["take_profit"].status in OPEN and legs["take_profit"].broker_order_id
    if spec.capabilities.bracket == "emulated":  # held by us, watched against the market
        assert (legs["stop_loss"].status, legs["stop_loss"].held) == (OrderStatus.PENDING, True)
    else:
        assert legs["stop_loss"].status in OPEN


@pytest.mark.brokers_where(lambda spec: spec.capabilities.bracket != "none")
def test_a_bracket_stop_loss_closes_the_position_and_cancels_the_take_profit(spec, connection, harness):
    """The market falls through the stop: the broker (native) or our watch (emulated) sells, the other leg goes."""
    _, legs = bracket(spec, connection, harness)
    harness.set_price(harness.symbol, away_from(connection, harness.symbol, harness.price(harness.symbol), "-0.31"))
    if spec.capabilities.bracket == "emulated":
        assert [leg.pk for leg in brackets_watch(connection=connection)] == [legs["stop_loss"].pk]
        order_cancel(order_id=str(legs["take_profit"].pk))  # the cancel task
        submit(Order.objects.get(pk=legs["stop_loss"].pk))  # sent once the take-profit is gone
    stop = filled(connection, Order.objects.get(pk=legs["stop_loss"].pk))
    assert (stop.status, stop.filled_qty) == (OrderStatus.FILLED, harness.qty)
    take = deliver_updates(connection, Order.objects.get(pk=legs["take_profit"].pk), until={OrderStatus.CANCELED})
    assert take.status == OrderStatus.CANCELED


def test_it_lists_open_orders_and_history(connection, harness):
    resting = resting_buy(connection, harness)
    with broker_session(connection) as adapter:
        assert resting.broker_order_id in {s.broker_order_id for s in adapter.open_orders()}
        assert resting.broker_order_id in {s.broker_order_id for s in adapter.order_history(limit=50)}


def test_it_refuses_an_unknown_symbol(connection, harness):
    with pytest.raises(InvalidSymbol):
        place(connection, symbol=harness.unknown_symbol, side="buy", type="market", qty=harness.qty)
    assert not Order.objects.exists()


def test_insufficient_funds_is_a_rejected_order_with_its_reason(connection, harness):
    harness.fund(Decimal(1))
    order = filled(connection, market_buy(connection, harness))
    assert order.status in {OrderStatus.REJECTED, OrderStatus.FAILED, OrderStatus.CANCELED}, order.status
    assert order.error_code == "insufficient_funds", (order.error_code, order.error_message)


def only_decimals(value: object) -> bool:
    if is_dataclass(value):
        return all(only_decimals(getattr(value, f.name)) for f in fields(value))
    if isinstance(value, list | tuple):
        return all(only_decimals(item) for item in value)
    return not isinstance(value, float)


def test_it_speaks_decimals_never_floats(connection, harness):
    filled(connection, market_buy(connection, harness))
    resting_buy(connection, harness)
    with broker_session(connection) as adapter:
        values = [
            adapter.balance(),
            adapter.positions(),
            adapter.open_orders(),
            adapter.order_history(limit=20),
            list(adapter.quotes([harness.symbol]).values()),
            adapter.instrument(harness.symbol),
            adapter.fees(),
        ]
    assert only_decimals(values)
    assert all(isinstance(s.qty, Decimal) and isinstance(s.filled_qty, Decimal) for s in values[3])


# --- market data ----------------------------------------------------------------------------------


def test_it_quotes_in_one_batch_leaving_unknown_symbols_out(connection, harness):
    with broker_session(connection) as adapter:
        quotes = adapter.quotes([harness.symbol, harness.unknown_symbol])
    assert set(quotes) == {harness.symbol}
    quote = quotes[harness.symbol]
    assert isinstance(quote.price, Decimal) and quote.price > 0 and quote.source


def test_it_describes_the_instrument_once_then_from_the_cache(connection, harness):
    first = instrument_get(connection=connection, symbol=harness.symbol)
    assert first.symbol == harness.symbol and first.tick_size > 0 and first.lot_size > 0
    harness.fault("timeout", times=5)  # no broker call is needed any more
    assert instrument_get(connection=connection, symbol=harness.symbol).pk == first.pk


# --- failures ---------------------------------------------------------------------------------------


def test_a_429_is_honoured_by_the_limiter(connection, harness):
    harness.fault("rate_limit", match=harness.calls["balance"])
    with pytest.raises(RateLimited) as first:
        connection_refresh(connection=connection)
    assert first.value.retry_after and first.value.retry_after > 0
    with pytest.raises(RateLimited):  # our limiter now holds every process back
        connection_refresh(connection=connection, wait=0)
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.CONNECTED  # a rate limit is not an outage


def test_an_outage_marks_the_connection_error_until_the_next_success(connection, harness):
    harness.fault("timeout", match=harness.calls["balance"])
    with pytest.raises(BrokerUnavailable):
        connection_refresh(connection=connection)
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ERROR and connection.failing_since is not None
    assert connection.consecutive_failures == 1 and connection.last_error
    before = BalanceSnapshot.objects.filter(connection=connection).count()
    eventually(lambda: connection_refresh(connection=connection))
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.CONNECTED and connection.failing_since is None
    assert BalanceSnapshot.objects.filter(connection=connection).count() == before + 1


def test_a_lost_answer_is_recovered_and_the_order_is_never_placed_twice(connection, harness):
    harness.fault("drop_response", match=harness.calls["place"])
    with pytest.raises(BrokerUnavailable):
        market_buy(connection, harness, client_order_id="contract-lost-1")
    order = Order.objects.get(client_order_id="contract-lost-1")
    # Unknown until the broker is asked, unless its own push (OpenD, IB) has told us already.
    assert order.status == OrderStatus.UNKNOWN or (order.broker_order_id and order.status != OrderStatus.FAILED)
    eventually(lambda: submit(order))  # the retry asks the broker first
    order = filled(connection, Order.objects.get(pk=order.pk))
    assert order.status == OrderStatus.FILLED and order.broker_order_id
    placed = [s for s in eventually(lambda: _history(connection)) if s.symbol == harness.symbol and not s.role]
    assert len(placed) == 1


def _history(connection):
    with broker_session(connection) as adapter:
        return adapter.order_history(limit=50)


def test_a_fill_reported_twice_is_counted_once(connection, harness):
    harness.fault("duplicate_fill")
    order = resting_buy(connection, harness)
    harness.fill(order.broker_order_id)
    order = deliver_updates(connection, order, until=DONE)
    order = deliver_updates(connection, order, until=DONE)  # and whatever a second report brings
    assert (order.status, order.filled_qty) == (OrderStatus.FILLED, harness.qty)
    assert sum(f.qty for f in Fill.objects.filter(order=order)) == harness.qty
