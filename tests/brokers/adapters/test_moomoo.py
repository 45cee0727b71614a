"""Moomoo through futu-api against the OpenD simulator: what is unique to this broker."""

from __future__ import annotations

import itertools
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest

from brokers.adapters.base import (
    AdapterContext,
    AuthenticationFailed,
    BrokerError,
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
    TimeInForce,
)
from brokers.adapters.moomoo import payloads
from brokers.adapters.moomoo.adapter import MoomooAdapter
from tests.simulators.base import running
from tests.simulators.opend import OpenDSimulator
from tests.simulators.opend import book as sim_book
from tests.simulators.opend.trading import BAD_PASSWORD, LOCKED
from tests.simulators.opend.wire import HEADER, HEADER_SIZE, MAGIC, encode, pb_module, sha1

PASSWORD = f"{secrets.randbelow(10**6):06d}"  # OpenD trade passwords are six digits
# futu's network thread still calls Thread.setDaemon().
pytestmark = pytest.mark.filterwarnings("ignore:setDaemon:DeprecationWarning")


@pytest.fixture
def sim() -> Iterator[OpenDSimulator]:
    with running(OpenDSimulator(trade_password=PASSWORD)) as sim:
        yield sim


@pytest.fixture
def make_adapter(sim: OpenDSimulator) -> Iterator[Callable[..., MoomooAdapter]]:
    made: list[MoomooAdapter] = []

    def make(*, paper: bool = False, **credentials: str) -> MoomooAdapter:
        values = {"host": "127.0.0.1", "port": str(sim.port), "trade_password": PASSWORD, "market": "US"}
        adapter = MoomooAdapter({**values, **credentials}, paper=paper, context=AdapterContext(user_id=1))
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


@pytest.fixture
def adapter(make_adapter: Callable[..., MoomooAdapter]) -> MoomooAdapter:
    adapter = make_adapter()
    adapter.connect()
    return adapter


def order(client_order_id: str = "cid-1", **fields: object) -> OrderRequest:
    values: dict[str, object] = {"symbol": "AAPL", "side": Side.BUY, "type": OrderType.MARKET, "qty": Decimal(3)}
    return OrderRequest(client_order_id=client_order_id, **{**values, **fields})  # type: ignore[arg-type]


def wait_for(condition: Callable[[], object], seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def sent(sim: OpenDSimulator, proto_id: int) -> list[tuple[int, str, int, int]]:
    return [entry for entry in list(sim.wire) if entry[1] == "out" and entry[2] == proto_id]


# -- the wire -----------------------------------------------------------------------------------


def test_it_speaks_opends_framing_and_the_simulator_checks_each_sha1(sim, adapter):
    adapter.balance()
    assert HEADER_SIZE == 44
    assert sim.protocol_errors == []
    assert len(sim.received("InitConnect")) == 2  # one trade and one quote connection

    with socket.create_connection(("127.0.0.1", sim.port), timeout=2) as raw:
        request = pb_module("InitConnect").Request()
        request.c2s.clientVer, request.c2s.clientID, request.c2s.packetEncAlgo = 100, "raw", -1
        raw.sendall(encode(1001, 777, request))
        magic, proto_id, _, _, serial, length, digest, _ = HEADER.unpack(raw.recv(HEADER_SIZE, socket.MSG_WAITALL))
        body = raw.recv(length, socket.MSG_WAITALL)
        assert (magic, proto_id, serial, digest) == (MAGIC, 1001, 777, sha1(body))

        keep_alive = pb_module("KeepAlive").Request()
        keep_alive.c2s.time = 1
        frame = bytearray(encode(1004, 778, keep_alive))
        frame[24] ^= 0xFF  # corrupt the body's SHA-1 in the header
        raw.sendall(bytes(frame))
        assert raw.recv(1) == b""  # OpenD closes the connection
    assert "SHA-1" in sim.protocol_errors[0]


def test_it_refuses_to_negotiate_encryption_it_has_no_key_for(sim):
    with socket.create_connection(("127.0.0.1", sim.port), timeout=2) as raw:
        request = pb_module("InitConnect").Request()
        request.c2s.clientVer, request.c2s.clientID, request.c2s.packetEncAlgo = 100, "raw", 2  # AES-CBC
        raw.sendall(encode(1001, 1, request))
        *_, length, _, _ = HEADER.unpack(raw.recv(HEADER_SIZE, socket.MSG_WAITALL))
        response = pb_module("InitConnect").Response()
        response.ParseFromString(raw.recv(length, socket.MSG_WAITALL))
    assert response.retType == -1
    assert "RSA" in response.retMsg


# -- unlocking ----------------------------------------------------------------------------------


def test_it_unlocks_a_real_account_with_the_trade_password(sim, adapter):
    state = adapter.place_order(order())

    assert sim.unlock_attempts == 1
    assert state.status == OrderStatus.FILLED
    assert adapter.connect().id == str(sim.account("US").acc_id)


def test_it_refuses_a_wrong_trade_password(make_adapter):
    adapter = make_adapter(trade_password="000000" if PASSWORD != "000000" else "111111")

    with pytest.raises(AuthenticationFailed, match="password") as caught:
        adapter.connect()
    assert PASSWORD not in caught.value.message


def test_it_cannot_trade_a_real_account_it_could_not_unlock(sim, make_adapter):
    adapter = make_adapter(trade_password="")
    adapter.connect()  # queries need no unlock

    with pytest.raises(AuthenticationFailed, match="unlock"):
        adapter.place_order(order())
    assert sim.orders == []


def test_it_trades_a_simulate_account_without_unlocking(sim, make_adapter):
    adapter = make_adapter(paper=True, trade_password="")

    account = adapter.connect()
    state = adapter.place_order(order())

    assert (account.id, account.paper) == (str(sim.account("US", paper=True).acc_id), True)
    assert state.status == OrderStatus.FILLED
    assert sim.unlock_attempts == 0
    assert sim.orders[0].account.env == sim_book.SIMULATE


def test_it_reports_settings_that_name_no_market_as_authentication_failed(make_adapter):
    with pytest.raises(AuthenticationFailed, match="US or HK"):
        make_adapter(market="JP").connect()


# -- every (-1, message) translated ---------------------------------------------------------------

RATE = "Request frequency exceeds the limit: at most 15 requests per 30 seconds for this protocol"


@pytest.mark.parametrize(
    ("proto", "message", "call", "error"),
    [
        ("Trd_PlaceOrder", "Insufficient buying power", "place", InsufficientFunds),
        ("Trd_PlaceOrder", "购买力不足", "place", InsufficientFunds),
        ("Trd_PlaceOrder", "Unknown stock US.AAPL", "place", InvalidSymbol),
        ("Trd_PlaceOrder", LOCKED, "place", AuthenticationFailed),
        ("Trd_PlaceOrder", "The price does not conform to the price spread", "place", OrderRejected),
        ("Trd_PlaceOrder", RATE, "place", RateLimited),
        ("Trd_ModifyOrder", "The order does not exist", "cancel", OrderNotFound),
        ("Trd_ModifyOrder", "The order is already filled or cancelled", "cancel", OrderRejected),
        ("Trd_GetAccList", "请求频率太高, 请稍后再试", "heartbeat", RateLimited),
        ("Trd_GetFunds", "NN_ProtoRet_TimeOut", "balance", BrokerUnavailable),
        ("Trd_GetFunds", "Nonexisting acc_id 1", "balance", AuthenticationFailed),
        ("Trd_GetFunds", "Something unexpected happened", "balance", BrokerError),
        (
            "Trd_GetOrderList",
            "No available real accounts with US market authority",
            "open_orders",
            AuthenticationFailed,
        ),
        ("Qot_GetStaticInfo", "Unknown stock US.AAPL", "instrument", InvalidSymbol),
        ("Qot_GetSecuritySnapshot", RATE, "quotes", RateLimited),
        ("Trd_UnlockTrade", BAD_PASSWORD, "reconnect", AuthenticationFailed),
        ("Trd_GetPositionList", "Disconnect", "positions", BrokerUnavailable),
    ],
)
def test_it_translates_every_opend_refusal(sim, adapter, make_adapter, proto, message, call, error):
    resting = adapter.place_order(order("resting", type=OrderType.LIMIT, limit_price=Decimal("100.00")))
    calls = {
        "place": lambda: adapter.place_order(order()),
        "cancel": lambda: adapter.cancel_order(resting.broker_order_id),
        "heartbeat": adapter.heartbeat,
        "balance": adapter.balance,
        "open_orders": adapter.open_orders,
        "positions": adapter.positions,
        "instrument": lambda: adapter.instrument("AAPL"),
        "quotes": lambda: adapter.quotes(["AAPL"]),
        "reconnect": lambda: make_adapter().connect(),
    }
    sim.refuse_next(proto, message)

    with pytest.raises(BrokerError) as caught:
        calls[call]()

    assert type(caught.value) is error
    assert caught.value.message == message


def test_it_translates_the_refusals_the_books_make(sim, adapter):
    sim.fund(Decimal(100))
    with pytest.raises(InsufficientFunds):
        adapter.place_order(order())
    with pytest.raises(OrderRejected, match="sellable"):
        adapter.place_order(order(side=Side.SELL))
    with pytest.raises(InvalidSymbol):
        adapter.place_order(order(symbol="ZZZZQ"))
    with pytest.raises(InvalidSymbol):
        adapter.place_order(order(symbol="BTC/USD"))  # never sent: no US code for it
    assert sim.orders == []


def test_it_answers_opends_frequency_limit_with_a_retry_after(sim, adapter):
    sim.faults.add("rate_limit", match="Trd_PlaceOrder")

    with pytest.raises(RateLimited) as caught:
        adapter.place_order(order())

    assert caught.value.retry_after == 2.0  # 15 per 30 s: one slot every 2 s
    assert sim.orders == []


def test_it_treats_a_backend_failure_and_a_timeout_as_unavailable(sim, adapter):
    sim.faults.add("server_error", match="Trd_GetPositionList")
    with pytest.raises(BrokerUnavailable):
        adapter.positions()

    sim.faults.add("timeout", match="Trd_GetFunds", seconds=0.2)
    with pytest.raises(BrokerUnavailable):
        adapter.balance()
    assert adapter.balance().cash == Decimal(100000)  # reconnected


# -- a gateway that is down or stuck -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_it_gives_up_at_once_when_opend_is_down():
    port = free_port()
    adapter = MoomooAdapter(
        {"host": "127.0.0.1", "port": str(port), "trade_password": PASSWORD}, paper=False, context=AdapterContext(1)
    )
    started = time.monotonic()

    with pytest.raises(BrokerUnavailable, match=f"127.0.0.1:{port}") as caught:
        adapter.connect()

    assert time.monotonic() - started < 2
    assert PASSWORD not in caught.value.message
    adapter.close()


def test_it_bounds_an_opend_that_never_completes_the_handshake(sim, make_adapter, monkeypatch):
    monkeypatch.setattr(MoomooAdapter, "connect_seconds", 0.5)
    sim.faults.add("timeout", match="InitConnect", seconds=2, times=3)
    adapter = make_adapter()
    started = time.monotonic()

    with pytest.raises(BrokerUnavailable, match="handshake"):
        adapter.connect()

    assert time.monotonic() - started < 1.5
    # futu's constructor (which would retry forever) was stopped: its helper thread ends.
    wait_for(lambda: not [t for t in threading.enumerate() if t.name == "opend-connect"])
    sim.faults.clear()
    assert adapter.connect().currency == "USD"


def test_it_says_unavailable_in_bounded_time_when_opend_goes_away(sim, adapter):
    sim.stop()
    started = time.monotonic()

    with pytest.raises(BrokerUnavailable):
        adapter.heartbeat()

    assert time.monotonic() - started < 3


def heartbeat_ok(adapter: MoomooAdapter) -> bool:
    try:
        adapter.heartbeat()
    except BrokerUnavailable:
        return False
    return True


def test_it_reconnects_after_opend_drops_the_socket_and_trades_again(sim, adapter):
    adapter.place_order(order("before"))
    sim.drop_clients()

    wait_for(lambda: heartbeat_ok(adapter))  # the gateway worker's heartbeat notices the drop and reconnects
    state = adapter.place_order(order("after"))

    assert state.status == OrderStatus.FILLED
    assert len(sim.received("InitConnect")) >= 3
    assert sim.unlock_attempts == 2  # the new trade connection is unlocked again


def test_it_never_resends_an_order_the_drop_cut_short_and_reconnects_for_the_next_call(sim, adapter):
    sim.faults.add("disconnect", match="Trd_PlaceOrder")
    with pytest.raises(BrokerUnavailable):
        adapter.place_order(order())

    assert len(sim.received("Trd_PlaceOrder")) == 1
    assert adapter.place_order(order("next")).status == OrderStatus.FILLED
    assert len(sim.received("InitConnect")) == 3  # the trade connection was rebuilt


# -- orders ------------------------------------------------------------------------------------------


def test_it_handles_the_order_push_that_arrives_before_the_reply(sim, adapter):
    pushed: list[OrderState] = []
    adapter.subscribe(pushed.append)

    state = adapter.place_order(order("early-push"))

    trade_conn = sim.received("Trd_PlaceOrder")[0]
    out = [(proto, serial) for conn, way, proto, serial in list(sim.wire) if conn == trade_conn and way == "out"]
    first_push = next(i for i, (proto, _) in enumerate(out) if proto == 2208)
    reply = next(i for i, (proto, _) in enumerate(out) if proto == 2202)
    assert first_push < reply
    assert (state.status, state.client_order_id) == (OrderStatus.FILLED, "early-push")
    assert state.broker_order_id == sim.orders[0].order_id_ex
    wait_for(lambda: any(s.status == OrderStatus.FILLED for s in pushed))
    assert {s.client_order_id for s in pushed} == {"early-push"}


def test_it_never_announces_a_push_older_than_what_it_knows(sim, adapter):
    sim.push_before_reply = False  # the reply (and futu's follow-up query) may now beat the pushes
    pushed: list[OrderState] = []
    adapter.subscribe(pushed.append)
    resting = adapter.place_order(order("late-push", type=OrderType.LIMIT, limit_price=Decimal("180.00")))
    sim.set_price("AAPL", Decimal("179.00"))
    wait_for(lambda: any(s.status == OrderStatus.FILLED for s in pushed))

    canceled = adapter.place_order(order("cancel-me", type=OrderType.LIMIT, limit_price=Decimal("150.00")))
    adapter.cancel_order(canceled.broker_order_id)
    wait_for(lambda: any(s.status == OrderStatus.CANCELED for s in pushed))

    for broker_order_id in (resting.broker_order_id, canceled.broker_order_id):
        states = [s.status for s in pushed if s.broker_order_id == broker_order_id]
        assert states[-1] in (OrderStatus.FILLED, OrderStatus.CANCELED)
        assert OrderStatus.SUBMITTED not in states[states.index(states[-1]) :]


def test_it_finds_an_order_whose_answer_was_lost_and_never_places_it_twice(sim, adapter):
    sim.faults.add("drop_response", match="Trd_PlaceOrder")
    with pytest.raises(BrokerUnavailable):
        adapter.place_order(order("lost-answer"))

    found = adapter.find_order("lost-answer")
    sim.roll_day()  # tomorrow it is only in the history
    found_later = adapter.find_order("lost-answer")

    assert found is not None and found_later is not None
    assert found.broker_order_id == found_later.broker_order_id == sim.orders[0].order_id_ex
    assert found.status == OrderStatus.FILLED
    assert len(sim.orders) == 1
    assert len(sim.received("Trd_PlaceOrder")) == 1
    assert adapter.find_order("never-sent") is None


def test_it_places_each_order_type_as_opend_names_it(sim, adapter):
    adapter.place_order(order("mkt"))
    adapter.place_order(
        order("lmt", type=OrderType.LIMIT, limit_price=Decimal("150.00"), time_in_force=TimeInForce.GTC)
    )
    adapter.place_order(order("stp", type=OrderType.STOP, stop_price=Decimal("200.00")))
    adapter.place_order(
        order("stl", type=OrderType.STOP_LIMIT, stop_price=Decimal("200.00"), limit_price=Decimal("201.00"))
    )

    shapes = [(o.remark, o.order_type, o.price, o.aux_price, o.time_in_force) for o in sim.orders]
    assert shapes == [
        ("mkt", sim_book.MARKET, 0, None, 0),
        ("lmt", sim_book.LIMIT, Decimal("150"), None, 1),
        ("stp", sim_book.STOP, 0, Decimal("200"), 0),
        ("stl", sim_book.STOP_LIMIT, Decimal("201"), Decimal("200"), 0),
    ]
    assert [s.type for s in adapter.open_orders()] == [OrderType.STOP_LIMIT, OrderType.STOP, OrderType.LIMIT]
    with pytest.raises(OrderRejected, match="day and gtc"):
        adapter.place_order(order("ioc", time_in_force=TimeInForce.IOC))


def test_it_cancels_a_resting_order_by_its_order_id_ex(sim, adapter):
    state = adapter.place_order(order("rest", type=OrderType.LIMIT, limit_price=Decimal("150.00")))

    canceled = adapter.cancel_order(state.broker_order_id)

    assert canceled.status == OrderStatus.CANCELED
    assert sim.order(state.broker_order_id).status == sim_book.CANCELLED_ALL
    assert adapter.open_orders() == []
    assert [s.client_order_id for s in adapter.order_history()] == ["rest"]
    with pytest.raises(OrderNotFound):
        adapter.get_order("FT000")


def test_it_reports_fees_from_the_order_fee_query(sim, adapter):
    sim.hold("AAPL", Decimal(10), Decimal(150))
    state = adapter.place_order(order("sell", side=Side.SELL, qty=Decimal(10)))

    fetched = adapter.get_order(state.broker_order_id)

    assert fetched.fee == sim.order(state.broker_order_id).fee > 0
    assert adapter.positions() == []


# -- pushes ------------------------------------------------------------------------------------------


def test_it_pushes_a_fill_to_the_subscriber_with_the_deal_id(sim, adapter):
    pushed: list[OrderState] = []
    adapter.subscribe(pushed.append)
    state = adapter.place_order(order("rest", type=OrderType.LIMIT, limit_price=Decimal("180.00")))

    sim.set_price("AAPL", Decimal("179.50"))

    wait_for(lambda: any(s.fills for s in pushed))
    filled = next(s for s in pushed if s.fills)
    deal = sim.order(state.broker_order_id).fills[0]
    assert filled.fills[0].execution_id == str(deal.fill_id)
    assert (filled.fills[0].qty, filled.fills[0].price) == (Decimal(3), Decimal("179.50"))
    assert filled.status == OrderStatus.FILLED


def test_it_announces_a_duplicate_fill_push_once(sim, adapter):
    pushed: list[OrderState] = []
    adapter.subscribe(pushed.append)
    sim.faults.add("duplicate_fill")

    first = adapter.place_order(order("dup"))
    adapter.place_order(order("after-dup"))  # its pushes come after the duplicate's
    wait_for(lambda: any(s.client_order_id == "after-dup" and s.fills for s in pushed))

    assert len(sent(sim, 2218)) == 3  # the duplicate was pushed
    announced = [s for s in pushed if s.broker_order_id == first.broker_order_id]
    assert all(a != b for a, b in itertools.pairwise(announced))
    assert {f.execution_id for s in announced for f in s.fills} == {str(sim.orders[0].fills[0].fill_id)}
    assert max(s.filled_qty for s in announced) == Decimal(3)


def test_it_ignores_pushes_of_the_other_accounts_on_the_connection(sim, adapter, make_adapter):
    pushed: list[OrderState] = []
    adapter.subscribe(pushed.append)
    paper = make_adapter(paper=True, trade_password="")

    paper.place_order(order("paper-order"))
    adapter.place_order(order("live-order"))

    wait_for(lambda: any(s.client_order_id == "live-order" and s.fills for s in pushed))
    assert {s.client_order_id for s in pushed} == {"live-order"}


# -- HK -----------------------------------------------------------------------------------------------


def test_it_keeps_an_hk_account_in_hkd(sim, make_adapter):
    adapter = make_adapter(market="HK")

    account = adapter.connect()
    before = adapter.balance()
    state = adapter.place_order(order("hk", symbol="00700", qty=Decimal(100)))
    after = adapter.balance()
    tencent = adapter.instrument("700")

    assert (account.currency, before.currency) == ("HKD", "HKD")
    assert before.cash == Decimal(800_000)  # the simulator's HKD, not converted to dollars
    assert after.cash == before.cash - Decimal("38020") - sim.orders[0].fee == sim.account("HK").cash
    assert state.symbol == "00700"
    assert adapter.get_order(state.broker_order_id).fee == sim.orders[0].fee > 15
    assert (tencent.symbol, tencent.lot_size, tencent.tick_size, tencent.currency) == (
        "00700",
        Decimal(100),
        Decimal("0.2"),
        "HKD",
    )
    assert adapter.fees().currency == "HKD"
    with pytest.raises(BrokerError, match="lot size"):
        adapter.place_order(order("odd-lot", symbol="00700", qty=Decimal(50)))


# -- market data --------------------------------------------------------------------------------------


def test_it_quotes_from_snapshots_leaving_unknown_symbols_out(sim, adapter):
    quotes = adapter.quotes(["AAPL", "ZZZZQ", "BTC/USD", "MSFT"])

    assert set(quotes) == {"AAPL", "MSFT"}
    assert quotes["AAPL"].price == sim.price("AAPL")
    assert quotes["AAPL"].bid < quotes["AAPL"].price < quotes["AAPL"].ask
    assert quotes["AAPL"].source == "moomoo"
    assert len(sim.received("Qot_GetSecuritySnapshot")) == 2  # the batch, then without the unknown code


def test_it_reads_an_instrument_from_static_info(adapter):
    apple = adapter.instrument("AAPL")

    assert (apple.broker_symbol, apple.lot_size, apple.tick_size, apple.currency) == (
        "US.AAPL",
        Decimal(1),
        Decimal("0.01"),
        "USD",
    )
    assert "US.MSFT" in {i.broker_symbol for i in adapter.instruments()}
    with pytest.raises(InvalidSymbol):
        adapter.instrument("ZZZZQ")


def test_it_maps_symbols_to_opend_codes_and_back():
    us, hk = payloads.MARKETS["US"], payloads.MARKETS["HK"]

    assert payloads.to_code("AAPL", us) == "US.AAPL"
    assert payloads.to_code("700", hk) == "HK.00700"
    assert payloads.from_code("HK.00700") == "00700"
    assert payloads.from_code("US.BRK.B") == "BRK.B"
    with pytest.raises(InvalidSymbol):
        payloads.to_code("AAPL", hk)
