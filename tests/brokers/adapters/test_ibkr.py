"""Interactive Brokers: the real ib_async against the TWS API simulator (tests/simulators/tws).

What is unique to IB: the socket handshake and start-up sync, client ids, native brackets sent
with only the last child transmitted, `orderRef` lookups across reconnects, error codes 201/200
and ib_async's [None], pacing (error 100), executions and commission reports, and a gateway that
is down or silent.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest

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
    OrderState,
    OrderStatus,
    OrderType,
    RateLimited,
    Side,
    StreamingAdapter,
    TimeInForce,
)
from brokers.adapters.ibkr.adapter import IbkrAdapter
from brokers.adapters.ibkr.gateway import DERIVED_BASE, TEST_IDS
from brokers.adapters.registry import build_adapter, get_spec
from tests.simulators.tws import TwsSimulator, wire


@pytest.fixture
def sim() -> Iterator[TwsSimulator]:
    simulator = TwsSimulator()
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def make(sim):
    """Adapters on `sim`, closed after the test; short timeouts keep failures quick."""
    made: list[IbkrAdapter] = []

    def build(connection_id: int | None = 1, timeout: float = 3.0, paper: bool = True, **credentials: str):
        creds = {"host": "127.0.0.1", "port": str(sim.port), **credentials}
        context = AdapterContext(user_id=1, connection_id=connection_id)
        adapter = IbkrAdapter(creds, paper=paper, context=context, timeout=timeout, connect_timeout=1.0)
        made.append(adapter)
        return adapter

    yield build
    for adapter in made:
        adapter.close()


def order(cid: str = "ord-1", kind: OrderType = OrderType.MARKET, qty: str = "10", **prices: str) -> OrderRequest:
    values = {name: Decimal(value) for name, value in prices.items()}
    return OrderRequest(cid, "AAPL", Side.BUY, kind, Decimal(qty), **values)


def placed(sim: TwsSimulator) -> list[list[str]]:
    return [fields for _, fields in sim.messages("placeOrder")]


def wait_for(condition, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# --- connecting ------------------------------------------------------------------------------


def test_it_connects_through_the_handshake_and_the_start_up_sync(sim, make):
    account = make().connect()

    assert (account.id, account.currency, account.paper) == ("DU1234567", "USD", True)
    asked = {name for _, name, _ in sim.requests}
    assert {"startApi", "reqPositions", "reqOpenOrders", "reqCompletedOrders", "reqExecutions"} <= asked
    # The summary subscription is ended right after its answer: the cancel may land a moment later.
    wait_for(lambda: "cancelAccountSummary" in {name for _, name, _ in sim.requests})
    assert {"reqAccountUpdates", "reqAccountSummary"} <= asked


def test_it_reports_the_base_currency_of_an_eur_account(make):
    eur = TwsSimulator(currency="EUR", rate=Decimal("0.92"), cash=Decimal("50000")).start()
    try:
        adapter = make(port=str(eur.port))
        assert adapter.connect().currency == "EUR"
        assert adapter.balance().currency == "EUR"
    finally:
        eur.stop()


@pytest.mark.parametrize("version", [163, 170, 176])
def test_it_speaks_older_server_versions(make, version):
    old = TwsSimulator(server_version=version).start()
    try:
        adapter = make(port=str(old.port))
        state = adapter.place_order(order(kind=OrderType.LIMIT, limit_price="150"))
        old.drop_clients()
        assert adapter.find_order("ord-1").broker_order_id == state.broker_order_id
        assert adapter.instrument("AAPL").tick_size == Decimal("0.01")
    finally:
        old.stop()


def test_it_refuses_a_login_that_does_not_manage_the_account(make):
    with pytest.raises(AuthenticationFailed, match="not one this gateway"):
        make(account="DU7654321").connect()


def test_it_refuses_a_paper_connection_to_a_live_login(make):
    live = TwsSimulator(account="U1234567").start()
    try:
        with pytest.raises(AuthenticationFailed, match="live account"):
            make(port=str(live.port), paper=True).connect()
    finally:
        live.stop()


# --- client ids ------------------------------------------------------------------------------


def test_it_gives_two_connections_to_one_gateway_different_client_ids(sim, make):
    make(connection_id=1).connect()
    make(connection_id=2).connect()

    assert sim.connected_client_ids() == {DERIVED_BASE + 1, DERIVED_BASE + 2}


def test_it_uses_the_client_id_set_for_the_connection(sim, make):
    make(client_id="17").connect()

    assert sim.connected_client_ids() == {17}


def test_it_tests_a_connection_with_a_random_client_id_from_the_reserved_range(sim, make):
    ids = {make(connection_id=None).client_id for _ in range(3)}

    assert all(TEST_IDS[0] <= i < TEST_IDS[1] for i in ids) and len(ids) == 3


def test_it_says_the_client_id_is_in_use_and_does_not_wait_for_the_timeout(make):
    make(client_id="17").connect()
    started = time.monotonic()

    with pytest.raises(BrokerUnavailable, match="client id 17 is already in use on the gateway"):
        make(client_id="17", timeout=10).connect()
    assert time.monotonic() - started < 2


def test_it_refuses_a_client_id_that_is_not_a_number(make):
    with pytest.raises(AuthenticationFailed, match="client id"):
        make(client_id="seventeen")


# --- orders ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "prices", "wire_type", "lmt", "aux", "status"),
    [
        (OrderType.MARKET, {}, "MKT", "", "", OrderStatus.FILLED),
        (OrderType.LIMIT, {"limit_price": "150.5"}, "LMT", "150.5", "", OrderStatus.SUBMITTED),
        (OrderType.STOP, {"stop_price": "200"}, "STP", "", "200", OrderStatus.SUBMITTED),
        (
            OrderType.STOP_LIMIT,
            {"limit_price": "201", "stop_price": "200"},
            "STP LMT",
            "201",
            "200",
            OrderStatus.SUBMITTED,
        ),
    ],
)
def test_it_places_each_order_type_with_our_id_in_order_ref(sim, make, kind, prices, wire_type, lmt, aux, status):
    state = make().place_order(order(kind=kind, **prices))

    fields = placed(sim)[-1]
    assert (fields[18], fields[19], fields[20], fields[26], fields[27]) == (wire_type, lmt, aux, "ord-1", "1")
    assert (state.status, state.client_order_id, state.type) == (status, "ord-1", kind)
    assert state.broker_order_id == str(sim.order_by_ref("ord-1").perm_id)


def test_it_reports_an_ioc_order_that_cannot_fill_as_canceled(make):
    ioc = replace(order(kind=OrderType.LIMIT, limit_price="150"), time_in_force=TimeInForce.IOC)

    state = make().place_order(ioc)

    assert (state.status, state.reason) == (OrderStatus.CANCELED, "")


def test_it_sends_a_native_bracket_with_only_the_last_child_transmitted(sim, make):
    request = order(kind=OrderType.LIMIT, limit_price="180", take_profit_limit_price="200", stop_loss_stop_price="170")

    state = make().place_order(request)

    entry, tp, sl = placed(sim)
    assert [f[27] for f in (entry, tp, sl)] == ["0", "0", "1"]  # transmit
    assert [f[28] for f in (tp, sl)] == [entry[1], entry[1]]  # parentId = the entry's order id
    assert [(f[16], f[18], f[26]) for f in (tp, sl)] == [("SELL", "LMT", "ord-1:tp"), ("SELL", "STP", "ord-1:sl")]
    assert [(leg.role, leg.status) for leg in state.legs] == [
        ("take_profit", OrderStatus.SUBMITTED),
        ("stop_loss", OrderStatus.SUBMITTED),
    ]


def test_it_keeps_a_bracket_held_until_the_last_child_is_transmitted(sim, make):
    adapter = make()
    adapter.connect()
    sim.set_price("AAPL", Decimal("150"))  # the entry would fill at once if it were live

    adapter.place_order(
        order(kind=OrderType.LIMIT, limit_price="160", take_profit_limit_price="170", stop_loss_stop_price="140")
    )

    transmitted = [f[27] for f in placed(sim)]
    assert transmitted == ["0", "0", "1"] and sim.order_by_ref("ord-1").status == "Filled"


def test_it_reports_a_bracket_exit_filling_and_its_other_exit_cancelled(sim, make):
    adapter = make()
    request = order(kind=OrderType.LIMIT, limit_price="180", take_profit_limit_price="200", stop_loss_stop_price="170")
    state = adapter.place_order(request)

    sim.set_price("AAPL", Decimal("179"))
    sim.set_price("AAPL", Decimal("201"))

    wait_for(lambda: adapter.get_order(state.broker_order_id).legs[0].status == OrderStatus.FILLED)
    final = adapter.get_order(state.broker_order_id)
    assert final.status == OrderStatus.FILLED
    assert [leg.status for leg in final.legs] == [OrderStatus.FILLED, OrderStatus.CANCELED]


def test_it_reports_fills_with_their_execution_ids_and_commissions(sim, make):
    state = make().place_order(order())

    execution = sim.book.executions[-1]
    assert [(f.execution_id, f.qty, f.price, f.fee) for f in state.fills] == [
        (execution.exec_id, Decimal(10), Decimal("187.25"), Decimal("0.35"))
    ]
    assert (state.filled_qty, state.avg_fill_price, state.fee) == (Decimal(10), Decimal("187.25"), Decimal("0.35"))


def test_it_cancels_an_order(sim, make):
    adapter = make()
    state = adapter.place_order(order(kind=OrderType.LIMIT, limit_price="150"))

    assert adapter.cancel_order(state.broker_order_id).status == OrderStatus.CANCELED
    assert sim.order_by_ref("ord-1").status == "Cancelled"


def test_it_refuses_to_cancel_a_filled_or_unknown_order(make):
    adapter = make()
    state = adapter.place_order(order())

    with pytest.raises(OrderRejected, match="already filled"):
        adapter.cancel_order(state.broker_order_id)
    with pytest.raises(OrderNotFound):
        adapter.cancel_order("42")


def test_it_lists_open_orders_and_history_newest_first(make):
    adapter = make()
    adapter.place_order(order("a"))
    adapter.place_order(order("b", kind=OrderType.LIMIT, limit_price="150"))

    assert [s.client_order_id for s in adapter.open_orders()] == ["b"]
    assert [s.client_order_id for s in adapter.order_history()] == ["b", "a"]


# --- errors ----------------------------------------------------------------------------------


def test_it_raises_insufficient_funds_on_error_201(sim, make):
    sim.fund(Decimal("100"))
    adapter = make()

    with pytest.raises(InsufficientFunds, match="EQUITY WITH LOAN"):
        adapter.place_order(order())
    found = adapter.find_order("ord-1")
    assert found.status == OrderStatus.REJECTED and "Order rejected" in found.reason


def test_it_raises_order_rejected_for_another_201_reason(sim, make):
    sim.reject_next("The order size is too small")

    with pytest.raises(OrderRejected, match=r"IB error 201: .*too small"):
        make().place_order(order())


def test_it_raises_invalid_symbol_for_an_unknown_contract(sim, make):
    adapter = make()

    with pytest.raises(InvalidSymbol):
        adapter.place_order(OrderRequest("x", "ZZZZ", Side.BUY, OrderType.MARKET, Decimal(1)))  # qualify → [None]
    with pytest.raises(InvalidSymbol):
        adapter.instrument("ZZZZ")  # contract details → error 200
    assert adapter.quotes(["ZZZZ"]) == {}
    assert placed(sim) == []


# --- lost answers, reconnects ------------------------------------------------------------------


def test_it_finds_an_order_by_order_ref_after_a_reconnect(sim, make):
    adapter = make()
    filled = adapter.place_order(order("filled"))
    working = adapter.place_order(order("working", kind=OrderType.LIMIT, limit_price="150"))
    sim.drop_clients()

    assert adapter.find_order("filled").broker_order_id == filled.broker_order_id
    assert adapter.find_order("working").status == OrderStatus.SUBMITTED == working.status
    assert adapter.find_order("never-placed") is None


def test_a_restarted_worker_finds_the_orders_of_its_connection(sim, make):
    first = make(connection_id=7)
    state = first.place_order(order(kind=OrderType.LIMIT, limit_price="150"))
    first.close()

    again = make(connection_id=7).find_order("ord-1")

    assert again.broker_order_id == state.broker_order_id and again.status == OrderStatus.SUBMITTED


def test_it_recovers_an_order_whose_answer_was_lost_without_placing_it_twice(sim, make):
    adapter = make()
    adapter.connect()
    sim.faults.add("drop_response", match="placeOrder")

    with pytest.raises(BrokerUnavailable):
        adapter.place_order(order())
    assert adapter.find_order("ord-1").status == OrderStatus.FILLED
    assert adapter.place_order(order()).client_order_id == "ord-1"
    assert len(placed(sim)) == 1


def test_it_reconnects_after_the_socket_drops_and_a_later_order_works(sim, make):
    adapter = make()
    adapter.connect()
    sim.drop_clients()
    wait_for(lambda: not sim.connected_client_ids())

    assert adapter.place_order(order()).status == OrderStatus.FILLED
    assert sim.connected_client_ids() == {DERIVED_BASE + 1}


def test_it_fails_fast_when_the_gateway_is_down(sim, make):
    adapter = make()
    sim.stop()
    started = time.monotonic()

    with pytest.raises(BrokerUnavailable, match="not accepting connections"):
        adapter.connect()
    with pytest.raises(BrokerUnavailable):
        adapter.heartbeat()
    assert time.monotonic() - started < 2


def test_it_comes_back_when_the_gateway_does(sim, make):
    adapter = make()
    adapter.connect()
    port = sim.port
    sim.stop()
    with pytest.raises(BrokerUnavailable):
        adapter.heartbeat()

    sim.restart(port)
    time.sleep(1.1)  # past the pause after a failed connect

    adapter.heartbeat()
    assert adapter.place_order(order()).status == OrderStatus.FILLED


def test_it_does_not_hang_on_a_gateway_that_stops_answering(sim, make):
    adapter = make(timeout=1.0)
    adapter.connect()
    sim.faults.add("timeout", match="reqCurrentTime")
    started = time.monotonic()

    with pytest.raises(BrokerUnavailable):
        adapter.heartbeat()
    assert time.monotonic() - started < 2
    wait_for(lambda: not sim.connected_client_ids())  # the silent socket is closed: the next call reconnects


def test_it_fails_a_call_at_once_when_the_gateway_loses_ibs_servers(sim, make):
    adapter = make(timeout=10.0)
    adapter.connect()
    sim.faults.add("server_error", match="placeOrder")
    started = time.monotonic()

    with pytest.raises(BrokerUnavailable, match="1100"):
        adapter.place_order(order())
    assert time.monotonic() - started < 2


def test_it_raises_rate_limited_when_ib_disconnects_it_for_pacing(sim, make):
    adapter = make()
    adapter.connect()
    sim.faults.add("rate_limit", match="reqCurrentTime")

    with pytest.raises(RateLimited, match="error 100") as caught:
        adapter.heartbeat()
    assert caught.value.retry_after == 1.0


def test_the_gateway_disconnects_a_client_sending_over_fifty_messages_a_second(sim):
    conn = socket.create_connection(("127.0.0.1", sim.port))
    conn.sendall(b"API\0" + struct.pack(">I", 9) + b"v157..178")
    wire.read_frame(conn)
    conn.sendall(wire.frame([71, 2, 99, ""]) + b"".join(wire.frame([49, 1]) for _ in range(60)))
    conn.settimeout(2)

    received = []
    with pytest.raises(ConnectionError):
        while True:
            received.append(wire.read_frame(conn))
    assert ["4", "2", "-1", "100"] in [m[:4] for m in received]
    conn.close()


# --- fills pushed ------------------------------------------------------------------------------


def test_it_pushes_a_fill_to_subscribers_within_two_seconds(sim, make):
    adapter = make()
    heard: list[OrderState] = []
    adapter.subscribe(heard.append)
    state = adapter.place_order(order(kind=OrderType.LIMIT, limit_price="150"))

    sim.set_price("AAPL", Decimal("149"))

    wait_for(lambda: any(s.status == OrderStatus.FILLED for s in heard), timeout=2.0)
    filled = next(s for s in heard if s.status == OrderStatus.FILLED)
    assert filled.broker_order_id == state.broker_order_id
    assert [(f.qty, f.price, f.fee) for f in filled.fills] == [(Decimal(10), Decimal(149), Decimal("0.35"))]


def test_it_reports_a_duplicated_execution_once(sim, make):
    adapter = make()
    heard: list[OrderState] = []
    adapter.subscribe(heard.append)
    adapter.connect()
    sim.faults.add("duplicate_fill")

    state = adapter.place_order(order())
    time.sleep(0.2)

    assert sim.duplicated_fills == {state.fills[0].execution_id}
    assert len(state.fills) == 1 and state.filled_qty == Decimal(10)
    assert [len(s.fills) for s in heard if s.status == OrderStatus.FILLED] == [1]
    assert len(adapter.get_order(state.broker_order_id).fills) == 1


def test_it_applies_an_execution_correction_to_the_original_fill(sim, make):
    adapter = make()
    state = adapter.place_order(order())
    (fill,) = state.fills

    sim.correct(fill.execution_id, Decimal("187.20"))

    wait_for(lambda: adapter.get_order(state.broker_order_id).avg_fill_price == Decimal("187.20"))
    corrected = adapter.get_order(state.broker_order_id)
    assert [(f.execution_id, f.qty, f.price) for f in corrected.fills] == [
        (fill.execution_id, Decimal(10), Decimal("187.2"))
    ]
    assert corrected.filled_qty == Decimal(10)


def test_it_tells_subscribers_about_fills_that_happened_while_it_was_disconnected(sim, make):
    adapter = make()
    heard: list[OrderState] = []
    adapter.subscribe(heard.append)
    state = adapter.place_order(order(kind=OrderType.LIMIT, limit_price="150"))
    sim.drop_clients()
    wait_for(lambda: not sim.connected_client_ids())
    sim.set_price("AAPL", Decimal("149"))  # fills while nobody listens

    adapter.heartbeat()

    wait_for(lambda: any(s.status == OrderStatus.FILLED for s in heard))
    assert next(s for s in heard if s.status == OrderStatus.FILLED).broker_order_id == state.broker_order_id


# --- account and market data -------------------------------------------------------------------


def test_it_reads_balance_positions_and_quotes(sim, make):
    adapter = make()
    adapter.place_order(order(qty="4"))
    sim.set_price("AAPL", Decimal("190"))

    balance = adapter.balance()
    wait_for(lambda: adapter.positions() and adapter.positions()[0].market_price == Decimal(190))
    (position,) = adapter.positions()
    quote = adapter.quotes(["AAPL", "MSFT"])["AAPL"]

    assert balance.cash == Decimal("100000") - Decimal("4") * Decimal("187.25") - Decimal("0.35")
    assert (position.symbol, position.qty, position.market_value) == ("AAPL", Decimal(4), Decimal(760))
    assert (quote.price, quote.bid, quote.ask, quote.source) == (
        Decimal(190),
        Decimal("189.99"),
        Decimal("190.01"),
        "ibkr",
    )
    assert quote.change == Decimal("2.75")


def test_it_ends_each_account_summary_subscription(sim, make):
    adapter = make()
    for _ in range(4):  # TWS allows two at a time (error 322 beyond)
        adapter.balance()

    wait_for(lambda: len(sim.messages("cancelAccountSummary")) == 4)


def test_it_describes_an_instrument_from_contract_details(make):
    instrument = make().instrument("AAPL")

    assert (instrument.symbol, instrument.broker_symbol, instrument.tick_size, instrument.lot_size) == (
        "AAPL",
        "265598",
        Decimal("0.01"),
        Decimal(1),
    )
    assert make().instruments() == []


def test_it_serves_several_threads_at_once(sim, make):
    adapter = make()
    results: list[OrderState] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(adapter.place_order(order(f"t{i}")))) for i in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sorted(s.client_order_id for s in results) == [f"t{i}" for i in range(5)]
    assert len({f[1] for f in placed(sim)}) == 5  # five distinct, increasing order ids


def test_the_registry_builds_a_streaming_gateway_adapter(sim):
    spec = get_spec("ibkr")
    adapter = build_adapter(
        "ibkr",
        {"host": "127.0.0.1", "port": str(sim.port)},
        paper=True,
        context=AdapterContext(user_id=1, connection_id=3),
    )
    try:
        assert isinstance(adapter, BrokerAdapter) and isinstance(adapter, StreamingAdapter)
        assert (spec.capabilities.session, spec.capabilities.order_updates, spec.capabilities.bracket) == (
            "gateway",
            "stream",
            "native",
        )
        fields = {f.name: f for f in spec.credential_fields}
        assert not fields["client_id"].required and "blank" in fields["client_id"].help
        assert not fields["account"].required
    finally:
        adapter.close()
