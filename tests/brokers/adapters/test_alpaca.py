"""What is unique to Alpaca, through the unmodified alpaca-py against tests/simulators/alpaca.

alpaca-py parses every answer into its strict pydantic models (UUID ids, required timestamps,
exact enums), so each test here also proves the simulator's shapes.
"""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from brokers.adapters.alpaca import clients
from brokers.adapters.alpaca.adapter import AlpacaAdapter
from brokers.adapters.alpaca.marketdata import AlpacaMarketData
from brokers.adapters.base import (
    AdapterContext,
    AuthenticationFailed,
    BrokerAdapter,
    BrokerUnavailable,
    InsufficientFunds,
    InvalidSymbol,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderType,
    RateLimited,
    Side,
    TimeInForce,
)
from brokers.adapters.registry import get_spec
from tests.brokers.contract.harness import Harness
from tests.brokers.contract.harnesses.alpaca import AlpacaHarness
from tests.simulators.alpaca import AlpacaSimulator
from tests.simulators.base import running
from watchlist.marketdata import MarketDataSource

D = Decimal


@pytest.fixture
def sim(settings):
    with running(AlpacaSimulator()) as simulator:
        settings.ALPACA_API_URL = simulator.url
        settings.ALPACA_DATA_URL = simulator.url
        yield simulator


def build(sim: AlpacaSimulator, **credentials: str) -> AlpacaAdapter:
    keys = {"api_key_id": sim.key_id, "api_secret_key": sim.secret_key, **credentials}
    return AlpacaAdapter(keys, paper=True, context=AdapterContext(user_id=1))


@pytest.fixture
def adapter(sim):
    built = build(sim)
    yield built
    built.close()


def order(cid: str = "", type_: OrderType = OrderType.MARKET, **fields) -> OrderRequest:
    fields.setdefault("symbol", "AAPL")
    fields.setdefault("side", Side.BUY)
    fields.setdefault("qty", D("2"))
    return OrderRequest(client_order_id=cid or uuid.uuid4().hex, type=type_, **fields)


def sent(sim: AlpacaSimulator, target: str) -> list:
    return [r for r in sim.requests if r.target == target]


# --- authentication and account -------------------------------------------------------------


def test_it_is_a_broker_adapter_reporting_the_account_number_and_currency(adapter, sim):
    assert isinstance(adapter, BrokerAdapter)
    account = adapter.connect()
    assert (account.id, account.currency, account.paper) == (sim.book.account_number, "USD", True)
    assert adapter.balance().currency == "USD"


def test_it_sends_alpacas_key_headers_over_one_kept_alive_session(adapter, sim):
    adapter.connect()
    adapter.positions()
    first, second = sim.requests
    assert first.headers["apca-api-key-id"] == sim.key_id
    assert first.headers["apca-api-secret-key"] == sim.secret_key
    assert first.client == second.client  # the same connection: the pooled session is reused


def test_it_refuses_a_wrong_secret_as_authentication_failed_without_echoing_it(sim):
    wrong = build(sim, api_secret_key="not-the-secret-" + "x" * 20)
    with pytest.raises(AuthenticationFailed) as raised:
        wrong.connect()
    assert "key ID and secret" in raised.value.message
    assert "not-the-secret" not in raised.value.message
    assert sent(sim, "GET /v2/account")[0].headers["apca-api-key-id"] == sim.key_id


def test_it_takes_a_forbidden_answer_without_a_code_as_bad_credentials(adapter, sim):
    sim.answer_next("GET /v2/account", 403, {"message": "forbidden."})
    with pytest.raises(AuthenticationFailed):
        adapter.connect()


def test_it_needs_both_keys_before_calling_alpaca(sim):
    with pytest.raises(AuthenticationFailed):
        build(sim, api_secret_key="")
    assert sim.requests == []


# --- orders ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "prices", "expected"),
    [
        (OrderType.MARKET, {}, {}),
        (OrderType.LIMIT, {"limit_price": D("180.5")}, {"limit_price": 180.5}),
        (OrderType.STOP, {"stop_price": D("190")}, {"stop_price": 190.0}),
        (
            OrderType.STOP_LIMIT,
            {"stop_price": D("190"), "limit_price": D("191")},
            {"stop_price": 190.0, "limit_price": 191.0},
        ),
    ],
)
def test_it_sends_each_order_type_as_alpacas_order_body(adapter, sim, type_, prices, expected):
    state = adapter.place_order(order("cid-1", type_, time_in_force=TimeInForce.GTC, **prices))
    body = json.loads(sent(sim, "POST /v2/orders")[0].body)
    assert body == {
        "symbol": "AAPL",
        "qty": 2.0,
        "side": "buy",
        "type": type_.value,
        "time_in_force": "gtc",
        "client_order_id": "cid-1",
        **expected,
    }
    assert state.client_order_id == "cid-1"
    assert uuid.UUID(state.broker_order_id)


def test_it_reports_a_market_fill_from_cumulative_figures(adapter, sim):
    placed = adapter.place_order(order())
    assert placed.status == OrderStatus.SUBMITTED  # Alpaca answers "accepted", then fills
    filled = adapter.get_order(placed.broker_order_id)
    ask = sim.book.assets["AAPL"].ask
    assert (filled.status, filled.filled_qty, filled.avg_fill_price, filled.fee) == (OrderStatus.FILLED, D(2), ask, 0)
    assert filled.fills == ()
    [position] = adapter.positions()
    assert (position.symbol, position.qty, position.avg_price) == ("AAPL", D(2), ask)
    assert adapter.balance().cash == D(100000) - 2 * ask


def test_it_places_a_bracket_whose_legs_work_one_cancels_other(adapter, sim):
    request = order(
        "bracket-1",
        OrderType.LIMIT,
        limit_price=D("186"),
        time_in_force=TimeInForce.GTC,
        take_profit_limit_price=D("195"),
        stop_loss_stop_price=D("180"),
        stop_loss_limit_price=D("179.5"),
    )
    placed = adapter.place_order(request)
    body = json.loads(sent(sim, "POST /v2/orders")[0].body)
    assert body["order_class"] == "bracket"
    assert body["take_profit"] == {"limit_price": 195.0}
    assert body["stop_loss"] == {"stop_price": 180.0, "limit_price": 179.5}
    assert [(leg.role, leg.type, leg.side) for leg in placed.legs] == [
        ("take_profit", OrderType.LIMIT, Side.SELL),
        ("stop_loss", OrderType.STOP_LIMIT, Side.SELL),
    ]
    listed = [(s.broker_order_id, s.role) for s in adapter.open_orders()]
    assert listed == [(placed.broker_order_id, ""), *((leg.broker_order_id, leg.role) for leg in placed.legs)]
    sim.set_price("AAPL", D("185.90"))  # the entry fills; its exits start working
    entry = adapter.get_order(placed.broker_order_id)
    assert entry.status == OrderStatus.FILLED
    assert all(leg.status == OrderStatus.SUBMITTED for leg in entry.legs)
    sim.set_price("AAPL", D("195.20"))  # the take-profit fills; the stop-loss is canceled
    take_profit, stop_loss = adapter.get_order(placed.broker_order_id).legs
    bid = sim.book.assets["AAPL"].bid  # a resting limit crossed by the market fills at the touch
    assert (take_profit.status, take_profit.filled_qty, take_profit.avg_fill_price) == (OrderStatus.FILLED, 2, bid)
    assert stop_loss.status == OrderStatus.CANCELED
    assert adapter.positions() == []


def test_it_sends_a_single_exit_as_an_oto_order(adapter, sim):
    placed = adapter.place_order(order(stop_loss_stop_price=D("170")))
    assert json.loads(sent(sim, "POST /v2/orders")[0].body)["order_class"] == "oto"
    assert [(leg.role, leg.type) for leg in placed.legs] == [("stop_loss", OrderType.STOP)]


def test_it_returns_the_first_order_for_a_repeated_client_id_and_places_nothing_twice(adapter, sim):
    first = adapter.place_order(order("same-id"))
    again = adapter.place_order(order("same-id"))
    assert again.broker_order_id == first.broker_order_id
    assert len(sim.orders_placed) == 1
    assert len(sent(sim, "POST /v2/orders")) == 2  # Alpaca refused the second one (422)
    assert sent(sim, "GET /v2/orders:by_client_order_id")[0].query == {"client_order_id": ["same-id"]}


def test_it_recovers_a_lost_response_by_client_order_id(adapter, sim):
    sim.faults.add("drop_response", match="POST /v2/orders")
    with pytest.raises(BrokerUnavailable):
        adapter.place_order(order("lost-1"))
    found = adapter.find_order("lost-1")
    assert found is not None and found.status == OrderStatus.FILLED
    retried = adapter.place_order(order("lost-1"))
    assert retried.broker_order_id == found.broker_order_id
    assert sim.orders_placed == [found.broker_order_id]


def test_it_finds_a_bracket_by_client_id_with_its_legs(adapter, sim):
    adapter.place_order(
        order(
            "b-2",
            OrderType.LIMIT,
            limit_price=D("150"),
            take_profit_limit_price=D("200"),
            stop_loss_stop_price=D("140"),
        )
    )
    found = adapter.find_order("b-2")
    assert [leg.role for leg in found.legs] == ["take_profit", "stop_loss"]
    assert adapter.find_order("never-sent") is None


def test_it_cancels_an_open_order_and_refuses_to_cancel_a_filled_one(adapter, sim):
    resting = adapter.place_order(order(type_=OrderType.LIMIT, limit_price=D("150")))
    assert adapter.cancel_order(resting.broker_order_id).status == OrderStatus.CANCELED
    assert sent(sim, f"DELETE /v2/orders/{resting.broker_order_id}")
    filled = adapter.place_order(order())
    with pytest.raises(OrderRejected, match="filled"):
        adapter.cancel_order(filled.broker_order_id)


def test_it_lists_open_orders_and_history_newest_first(adapter, sim):
    older = adapter.place_order(order(type_=OrderType.LIMIT, limit_price=D("150")))
    newer = adapter.place_order(order(type_=OrderType.LIMIT, limit_price=D("151")))
    filled = adapter.place_order(order())
    assert [s.broker_order_id for s in adapter.open_orders()] == [newer.broker_order_id, older.broker_order_id]
    history = [s.broker_order_id for s in adapter.order_history(limit=10)]
    assert history == [filled.broker_order_id, newer.broker_order_id, older.broker_order_id]
    assert sent(sim, "GET /v2/orders")[-1].query["nested"] == ["True"]


def test_it_counts_a_duplicated_fill_report_once(adapter, sim):
    sim.faults.add("duplicate_fill")
    placed = adapter.place_order(order())
    first, second = sim.book.fills
    assert first["id"] == second["id"]
    state = adapter.get_order(placed.broker_order_id)
    assert state.filled_qty == D(2)
    assert adapter.positions()[0].qty == D(2)


# --- errors -------------------------------------------------------------------------------


def test_it_translates_insufficient_buying_power_40310000(adapter, sim):
    sim.fund(D("100"))
    with pytest.raises(InsufficientFunds, match="insufficient buying power"):
        adapter.place_order(order())
    assert sim.orders_placed == []


def test_it_translates_selling_more_than_held_40310000(adapter):
    with pytest.raises(InsufficientFunds, match="insufficient qty"):
        adapter.place_order(order(side=Side.SELL))


def test_it_takes_other_40310000_refusals_as_rejections(adapter, sim):
    sim.answer_next("POST /v2/orders", 403, {"code": 40310000, "message": "new orders are rejected by user request"})
    with pytest.raises(OrderRejected, match="rejected by user request"):
        adapter.place_order(order())


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (422, {"code": 40410000, "message": 'asset "ZZZZ" not found'}),
        (422, {"code": 40010001, "message": 'asset "ZZZZ" not found'}),
    ],
)
def test_it_translates_an_order_for_an_unknown_symbol(adapter, sim, status, answer):
    sim.answer_next("POST /v2/orders", status, answer)
    with pytest.raises(InvalidSymbol):
        adapter.place_order(order(symbol="ZZZZ"))


def test_it_translates_unknown_symbols_and_orders_40410000(adapter, sim):
    with pytest.raises(InvalidSymbol):
        adapter.place_order(order(symbol="ZZZZ"))  # the simulator's own refusal
    with pytest.raises(InvalidSymbol, match="asset not found"):
        adapter.instrument("ZZZZ")
    with pytest.raises(OrderNotFound):
        adapter.get_order(str(uuid.uuid4()))
    with pytest.raises(OrderNotFound):
        adapter.cancel_order("not-a-uuid")


def test_it_refuses_non_equity_symbols_without_calling_alpaca(adapter, sim):
    with pytest.raises(InvalidSymbol):
        adapter.place_order(order(symbol="BTC/USD"))
    with pytest.raises(InvalidSymbol):
        adapter.instrument("BTC/USD")
    assert sim.requests == []


def test_it_passes_alpacas_validation_messages_on_as_rejections(adapter):
    with pytest.raises(OrderRejected, match="sub-penny"):
        adapter.place_order(order(type_=OrderType.LIMIT, limit_price=D("180.123")))


def test_it_rejects_an_order_alpaca_py_would_not_send_without_calling_alpaca(adapter, sim):
    with pytest.raises(OrderRejected, match="limit_price"):
        adapter.place_order(order(type_=OrderType.LIMIT))  # no limit price
    assert sim.requests == []


# --- time bounds --------------------------------------------------------------------------


def test_it_lets_a_429_through_at_once_with_alpacas_reset_as_retry_after(adapter, sim):
    sim.faults.add("rate_limit", times=5)
    started = time.monotonic()
    with pytest.raises(RateLimited) as raised:
        adapter.balance()
    assert time.monotonic() - started < 0.5  # no 3 s sleeps inside the SDK
    assert len(sim.requests) == 1
    assert 0.5 <= raised.value.retry_after <= 1.0


def test_it_retries_a_504_once_and_stays_within_the_declared_timeout(adapter, sim):
    sim.faults.add("server_error", status=504, times=5)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="504"):
        adapter.open_orders()
    elapsed = time.monotonic() - started
    assert len(sim.requests) == 2
    assert clients.SDK_RETRY_WAIT <= elapsed < get_spec("alpaca").capabilities.timeout_seconds


def test_it_gives_up_on_a_silent_alpaca_within_the_budget(sim, settings):
    settings.BROKER_TIMEOUT_SECONDS = 3.0  # each try: 0.5 s to connect, 0.5 s to read
    adapter = build(sim)
    sim.faults.add("timeout", seconds=1.5)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        adapter.balance()
    assert time.monotonic() - started < 3.0
    adapter.close()


def test_its_declared_timeout_covers_both_tries_and_the_wait():
    declared = get_spec("alpaca").capabilities.timeout_seconds
    budget = clients.call_budget(declared)
    connect, read = budget.http_timeout
    tries = clients.SDK_RETRIES + 1
    assert tries * (connect + read) + clients.SDK_RETRIES * clients.SDK_RETRY_WAIT <= declared
    assert 429 not in clients.SDK_RETRY_CODES


# --- market data, instruments, fees -----------------------------------------------------------


def test_it_quotes_a_batch_in_one_request_per_endpoint(adapter, sim):
    quotes = adapter.quotes(["AAPL", "msft", "NOPE", "BTC/USD"])
    assert sorted(quotes) == ["AAPL", "MSFT"]
    [latest], [snapshots] = sent(sim, "GET /v2/stocks/quotes/latest"), sent(sim, "GET /v2/stocks/snapshots")
    assert latest.query["symbols"] == ["AAPL,MSFT,NOPE"]
    assert snapshots.query["symbols"] == ["AAPL,MSFT"]
    aapl = quotes["AAPL"]
    assert (aapl.bid, aapl.ask, aapl.price, aapl.source) == (D("187.24"), D("187.26"), D("187.25"), "alpaca")
    assert (aapl.change, aapl.change_pct) == (D("2.25"), D("1.22"))  # against the previous close, 185.00
    assert aapl.as_of.tzinfo is not None


def test_it_describes_instruments_with_alpacas_ticks_and_lots(adapter):
    aapl, zom = adapter.instrument("AAPL"), adapter.instrument("ZOM")
    assert (aapl.tick_size, aapl.lot_size, aapl.min_qty, aapl.fractional) == (D("0.01"), D("1e-9"), D("1e-9"), True)
    assert (zom.tick_size, zom.lot_size, zom.fractional) == (D("0.0001"), D(1), False)  # under $1: sub-penny
    with pytest.raises(InvalidSymbol):
        adapter.instrument("OLDCO")  # inactive
    listed = {i.symbol: i for i in adapter.instruments()}
    assert "OLDCO" not in listed and listed["ZOM"].tick_size == D("0.01")  # no prices for the list


def test_it_reports_equities_as_commission_free(adapter, sim):
    fees = adapter.fees()
    assert (fees.maker_pct, fees.taker_pct, fees.per_order) == (0, 0, 0)
    assert "commission-free" in fees.note
    assert sim.requests == []


# --- the watchlist's market-data source -------------------------------------------------------


@pytest.fixture
def source(sim, settings):
    settings.ALPACA_DATA_KEY_ID, settings.ALPACA_DATA_SECRET_KEY = sim.new_key()
    return AlpacaMarketData()


def test_the_source_validates_against_one_cached_asset_list(source, sim):
    assert isinstance(source, MarketDataSource)
    assert source.validate(" aapl ") == "AAPL"
    assert source.validate("MSFT") == "MSFT"
    for unknown in ("NOPE", "OLDCO", "BTC/USD"):
        with pytest.raises(InvalidSymbol):
            source.validate(unknown)
    assert len(sent(sim, "GET /v2/assets")) == 1


def test_the_source_quotes_a_batch_with_the_operators_key(source, sim, settings):
    quotes = source.quotes(["AAPL", "SPY"])
    assert sorted(quotes) == ["AAPL", "SPY"]
    [latest] = sent(sim, "GET /v2/stocks/quotes/latest")
    assert latest.headers["apca-api-key-id"] == settings.ALPACA_DATA_KEY_ID


def test_the_source_needs_the_operators_key(settings):
    settings.ALPACA_DATA_KEY_ID = ""
    with pytest.raises(ImproperlyConfigured, match="ALPACA_DATA_KEY_ID"):
        AlpacaMarketData()


# --- the contract suite's harness -------------------------------------------------------------


def test_the_contract_harness_stands_the_simulator_up_behind_the_settings():
    harness = AlpacaHarness()
    assert isinstance(harness, Harness)
    for _ in harness.start():
        context = AdapterContext(user_id=1)
        adapter = AlpacaAdapter(harness.credentials, paper=harness.paper, context=context)
        resting = adapter.place_order(
            order(
                type_=OrderType.LIMIT,
                symbol=harness.symbol,
                qty=harness.qty,
                limit_price=harness.price(harness.symbol) - 5,
            )
        )
        harness.fill(resting.broker_order_id)
        assert adapter.get_order(resting.broker_order_id).status == OrderStatus.FILLED
        with pytest.raises(AuthenticationFailed):
            AlpacaAdapter(harness.bad_credentials, paper=True, context=context).connect()
        with pytest.raises(InvalidSymbol):
            adapter.instrument(harness.unknown_symbol)
        adapter.close()
