"""What is unique to Kraken, through the unmodified ccxt `kraken` against tests/simulators/kraken.

Signatures and nonces checked by the simulator, nonces shared across adapters through Redis, each
Kraken error translated, `cl_ord_id` deduplicated among open orders only (and a lost AddOrder found
among closed ones), `descr.order` sentences, the counter-decay limit, AssetPairs increments.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from decimal import Decimal
from urllib.parse import parse_qs

import ccxt
import pytest

from brokers.adapters.base import (
    AdapterContext,
    AuthenticationFailed,
    BrokerAdapter,
    BrokerError,
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
)
from brokers.adapters.kraken.adapter import KrakenAdapter
from brokers.adapters.kraken.client import TRANSLATOR
from brokers.adapters.kraken.marketdata import KrakenMarketData
from brokers.adapters.registry import get_spec
from brokers.sessions import LimitedAdapter
from tests.simulators.base import running
from tests.simulators.kraken import KrakenSimulator, Tier
from tests.simulators.kraken.auth import make_credentials

BTC = "BTC/USD"


@pytest.fixture
def sim(settings):
    with running(KrakenSimulator()) as simulator:
        settings.KRAKEN_API_URL = simulator.url
        yield simulator


def make_adapter(sim: KrakenSimulator, **credentials: str) -> KrakenAdapter:
    creds = {"api_key": sim.api_key, "api_secret": sim.api_secret, **credentials}
    return KrakenAdapter(creds, paper=False, context=AdapterContext(user_id=1))


@pytest.fixture
def adapter(sim):
    made = make_adapter(sim)
    yield made
    made.close()


def order(type_: OrderType = OrderType.MARKET, *, cid: str = "c1", qty: str = "0.01", **prices: str) -> OrderRequest:
    """A BTC/USD buy."""
    fields = {name: Decimal(value) for name, value in prices.items()}
    return OrderRequest(cid, BTC, Side.BUY, type_, Decimal(qty), **fields)


def sell(type_: OrderType, *, cid: str, qty: str = "0.01", **prices: str) -> OrderRequest:
    fields = {name: Decimal(value) for name, value in prices.items()}
    return OrderRequest(cid, BTC, Side.SELL, type_, Decimal(qty), **fields)


def private_calls(sim: KrakenSimulator, method: str) -> list[dict[str, list[str]]]:
    return [parse_qs(r.body.decode()) for r in sim.requests if r.path == f"/0/private/{method}"]


# --- authentication and nonces --------------------------------------------------------------------


def test_it_is_a_broker_adapter_signing_each_call_as_kraken_checks_it(sim, adapter):
    account = adapter.connect()

    assert isinstance(adapter, BrokerAdapter)
    assert account.currency == "USD" and account.paper is False and account.id.startswith("kraken-")
    call = next(r for r in sim.requests if r.path == "/0/private/BalanceEx")
    assert call.headers["api-key"] == sim.api_key and call.headers["api-sign"]
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sim.keys.nonces[sim.api_key] > 1_600_000_000_000_000  # microseconds, from the shared counter


def test_it_reports_a_private_key_of_another_api_key_as_an_actionable_auth_failure(sim):
    wrong = make_adapter(sim, api_secret=make_credentials()[1])

    with pytest.raises(AuthenticationFailed, match="private key does not belong to this API key"):
        wrong.connect()


def test_it_reports_an_unknown_api_key_as_an_auth_failure(sim):
    stranger = make_adapter(sim, api_key=make_credentials()[0])

    with pytest.raises(AuthenticationFailed, match="EAPI:Invalid key"):
        stranger.connect()


def test_it_is_refused_a_nonce_not_above_the_keys_last(sim):
    config = {"apiKey": sim.api_key, "secret": sim.api_secret, "nonce": lambda: 1000, "enableRateLimit": False}
    first, second = (ccxt.kraken({**config, "urls": {"api": {"private": sim.url}}}) for _ in range(2))
    first.private_post_balanceex()

    with pytest.raises(ccxt.InvalidNonce):
        second.private_post_balanceex()  # its own first call, but the key already sent 1000


def recording_nonces(one: KrakenAdapter) -> list[int]:
    """Every nonce the adapter's ccxt signs with (observed, not replaced: the shared hook still makes them)."""
    hook, sent = one.client.exchange.nonce, []

    def record() -> int:
        sent.append(hook())
        return sent[-1]

    one.client.exchange.nonce = record
    return sent


def test_it_never_sends_a_non_increasing_nonce_from_two_adapters_of_one_key_in_two_threads(sim):
    adapters = [make_adapter(sim), make_adapter(sim)]  # two ccxt instances: nothing shared but Redis
    sent = [recording_nonces(one) for one in adapters]
    outcomes: list[object] = []

    def work(one: KrakenAdapter) -> None:
        for _ in range(8):
            try:
                outcomes.append(one.connect())
            except BrokerUnavailable as exc:  # both tries overtaken by the other thread's later nonce
                outcomes.append(exc)

    sim.keys.tier.counter_max = 100
    threads = [threading.Thread(target=work, args=(one,)) for one in adapters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(a < b for nonces in sent for a, b in itertools.pairwise(nonces))  # each increases
    assert not set(sent[0]) & set(sent[1])  # and they never repeat one another's
    arrived = [nonce for key, nonce in sim.keys.seen if key == sim.api_key]
    assert sorted(arrived) == sorted(sent[0] + sent[1])
    assert sum(1 for o in outcomes if not isinstance(o, BrokerUnavailable)) >= 8  # most get through


def test_it_retries_a_nonce_overtaken_by_a_later_one_once_then_gives_up(sim, adapter):
    sim.keys.overtaken = 1
    assert adapter.connect().currency == "USD"

    sim.keys.overtaken = 2
    with pytest.raises(BrokerUnavailable, match="nonce"):
        adapter.connect()


def test_it_refuses_paper_mode_kraken_has_none(sim):
    with pytest.raises(BrokerError, match="no paper-trading"):
        KrakenAdapter(
            {"api_key": sim.api_key, "api_secret": sim.api_secret}, paper=True, context=AdapterContext(user_id=1)
        ).connect()


# --- errors -----------------------------------------------------------------------------------


def test_it_translates_insufficient_funds(sim, adapter):
    sim.fund(Decimal("10"))

    with pytest.raises(InsufficientFunds, match="EOrder:Insufficient funds"):
        adapter.place_order(order())


def test_it_translates_an_order_below_the_pairs_minimum_as_rejected(adapter):
    with pytest.raises(OrderRejected, match="EOrder:Order minimum not met"):
        adapter.place_order(order(qty="0.00005"))


def test_it_translates_an_unknown_asset_pair(adapter):
    with pytest.raises(InvalidSymbol):
        adapter.place_order(OrderRequest("c1", "FOO/USD", Side.BUY, OrderType.MARKET, Decimal(1)))
    with pytest.raises(InvalidSymbol, match="EQuery:Unknown asset pair"), TRANSLATOR.guard():
        adapter.client.exchange.public_get_ticker({"pair": "FOOUSD"})  # Kraken's own answer


def test_it_translates_unknown_orders(adapter):
    with pytest.raises(OrderNotFound):
        adapter.get_order("OABCDE-FGHIJ-KLMNOP")
    with pytest.raises(OrderNotFound):
        adapter.cancel_order("OABCDE-FGHIJ-KLMNOP")


@pytest.mark.parametrize(
    ("fault", "error"),
    [("rate_limit", RateLimited), ("server_error", BrokerUnavailable), ("timeout", BrokerUnavailable)],
)
def test_it_translates_faults(sim, adapter, fault, error):
    sim.faults.add(fault, match="BalanceEx")

    with pytest.raises(error):
        adapter.connect()


def test_it_gives_up_within_the_timeout(sim, adapter, settings):
    settings.BROKER_TIMEOUT_SECONDS = 0.3
    slow = make_adapter(sim)
    sim.faults.add("timeout", match="BalanceEx", seconds=1.0)

    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match=r"within 0\.3 seconds|BalanceEx"):
        slow.connect()
    assert time.monotonic() - started < 0.9


def test_it_answers_the_counter_decay_limit_and_recovers_as_the_counter_decays(sim, adapter):
    for _ in range(15):  # Starter: a counter of 15, each BalanceEx +1
        adapter.connect()

    with pytest.raises(RateLimited, match="EAPI:Rate limit exceeded") as refused:
        adapter.connect()
    assert refused.value.retry_after == pytest.approx(3.0)

    sim.advance(3.1)  # one call's worth decays at 0.33/s
    assert adapter.connect().currency == "USD"


def test_it_meets_addorders_per_pair_trading_counter_not_the_call_counter(settings):
    with running(KrakenSimulator(Tier(trading_max=2))) as sim:
        settings.KRAKEN_API_URL = sim.url
        adapter = make_adapter(sim)
        for n in range(2):
            adapter.place_order(order(OrderType.LIMIT, cid=f"o{n}", limit_price="29000.0"))

        with pytest.raises(RateLimited, match="EOrder:Rate limit exceeded"):
            adapter.place_order(order(OrderType.LIMIT, cid="o3", limit_price="29000.0"))
        eth = OrderRequest("e1", "ETH/USD", Side.BUY, OrderType.LIMIT, Decimal("0.01"), limit_price=Decimal("1900"))
        assert adapter.place_order(eth).status == OrderStatus.SUBMITTED  # another pair, another counter


def limited(adapter: KrakenAdapter) -> LimitedAdapter:
    """The adapter behind the shared limiter, under a key and an address no other test counts against."""
    identities = {"credential": uuid.uuid4().hex, "account": uuid.uuid4().hex, "ip": uuid.uuid4().hex}
    return LimitedAdapter(adapter, spec=get_spec("kraken"), identities=identities, wait=0)


def test_the_limiter_charges_each_request_as_krakens_counter_does(sim, adapter):
    """find_order sends OpenOrders then ClosedOrders: two points of the key's 15. Seven calls fit; the
    eighth sends its fifteenth request and is refused by our limiter, before Kraken has to refuse one."""
    session, answered = limited(adapter), 0
    with pytest.raises(RateLimited, match="kraken:private rate limit reached"):
        for _ in range(16):
            session.find_order("never-placed")
            answered += 1
    assert answered == 7
    assert len(private_calls(sim, "OpenOrders")) + len(private_calls(sim, "ClosedOrders")) == 15


def test_an_order_counts_on_the_trading_counter_and_is_in_even_when_its_read_back_is_held(sim, adapter):
    session = limited(adapter)
    for _ in range(15):  # the key's counter full: no QueryOrders may follow the AddOrder
        session.connect()

    state = session.place_order(order(OrderType.LIMIT, cid="held-back", limit_price="29000.0"))

    assert (state.status, state.client_order_id) == (OrderStatus.SUBMITTED, "held-back")
    assert state.broker_order_id  # Kraken's txid: the next poll reads the order by it
    assert len(private_calls(sim, "AddOrder")) == 1
    assert private_calls(sim, "QueryOrders") == []


# --- orders -----------------------------------------------------------------------------------


def test_it_places_each_order_type_as_kraken_names_it(sim, adapter):
    assert adapter.place_order(order(cid="market")).status == OrderStatus.FILLED
    adapter.place_order(order(OrderType.LIMIT, cid="limit", limit_price="29000.0"))
    adapter.place_order(sell(OrderType.STOP, cid="stop", stop_price="28000.0"))
    adapter.place_order(order(OrderType.STOP_LIMIT, cid="stoplimit", stop_price="31000.0", limit_price="31100.0"))

    sent = {call["cl_ord_id"][0]: call for call in private_calls(sim, "AddOrder")}
    assert sent["limit"]["ordertype"] == ["limit"] and sent["limit"]["price"] == ["29000"]
    assert sent["stop"]["ordertype"] == ["stop-loss"] and sent["stop"]["price"] == ["28000"]
    assert sent["stoplimit"]["ordertype"] == ["stop-loss-limit"]
    assert (sent["stoplimit"]["price"], sent["stoplimit"]["price2"]) == (["31000"], ["31100"])
    assert sent["market"]["ordertype"] == ["market"] and "price" not in sent["market"]
    assert {o.client_order_id: o.type for o in adapter.open_orders()} == {
        "limit": OrderType.LIMIT,
        "stop": OrderType.STOP,
        "stoplimit": OrderType.STOP_LIMIT,
    }


def test_it_reads_a_market_order_back_filled_with_its_trade(sim, adapter):
    state = adapter.place_order(order())

    trade = sim.order(state.broker_order_id).trades[0]
    assert state.status == OrderStatus.FILLED and state.filled_qty == Decimal("0.01")
    assert state.avg_fill_price == Decimal("30000.1")  # the ask
    assert [(f.execution_id, f.qty, f.price) for f in state.fills] == [(trade, Decimal("0.01"), Decimal("30000.1"))]
    assert state.fee == Decimal("0.78000")


def test_it_gets_descr_order_as_krakens_sentence_which_ccxt_reads(sim, adapter):
    sim.fund(Decimal(2), asset="XXBT")
    adapter.client.markets()
    created = adapter.client.exchange.create_order(
        BTC, "limit", "sell", "1.25", "31000.0", {"stopLossPrice": "30500.0", "clientOrderId": "d1"}
    )

    checked = adapter.client.exchange.private_post_addorder(
        {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "volume": "1.25", "price": "27500", "validate": "true"}
    )

    assert created["info"]["descr"]["order"] == "sell 1.25000000 XBTUSD @ stop loss 30500.0 -> limit 31000.0"
    assert checked["result"] == {"descr": {"order": "buy 1.25000000 XBTUSD @ limit 27500.0"}}  # validated, not placed
    assert len(sim.book.orders) == 1
    assert (created["side"], created["amount"], created["triggerPrice"], created["price"]) == (
        "sell",
        1.25,
        30500.0,
        31000.0,
    )


def test_it_attaches_one_exit_leg_as_krakens_conditional_close(sim, adapter):
    state = adapter.place_order(
        order(OrderType.LIMIT, cid="tp", limit_price="29000.0", take_profit_limit_price="33000.0")
    )

    call = private_calls(sim, "AddOrder")[-1]
    assert (call["close[ordertype]"], call["close[price]"]) == (["limit"], ["33000.0"])
    assert sim.order(state.broker_order_id).descr_close() == "close position @ limit 33000.0"
    sim.set_price(BTC, Decimal("28990.0"))
    close = next(o for o in adapter.open_orders() if o.side == Side.SELL)
    assert (close.type, close.qty, close.status) == (OrderType.LIMIT, Decimal("0.01"), OrderStatus.SUBMITTED)


def test_it_refuses_a_two_legged_bracket_kraken_attaches_one_close(sim, adapter):
    bracket = order(take_profit_limit_price="33000.0", stop_loss_stop_price="28000.0")

    with pytest.raises(OrderRejected, match="one conditional close"):
        adapter.place_order(bracket)
    assert private_calls(sim, "AddOrder") == []


def test_it_refuses_quantities_and_prices_off_the_pairs_increments_before_sending(sim, adapter):
    with pytest.raises(OrderRejected, match="steps of 1E-8"):
        adapter.place_order(order(qty="0.000000001"))
    with pytest.raises(OrderRejected, match=r"steps of 0\.1"):
        adapter.place_order(order(OrderType.LIMIT, limit_price="29000.05"))
    assert private_calls(sim, "AddOrder") == []


def test_it_cancels_a_resting_order_and_refuses_to_cancel_a_filled_one(sim, adapter):
    resting = adapter.place_order(order(OrderType.LIMIT, cid="rest", limit_price="29000.0"))
    filled = adapter.place_order(order(cid="done"))

    assert adapter.cancel_order(resting.broker_order_id).status == OrderStatus.CANCELED
    with pytest.raises(OrderRejected, match="already filled"):
        adapter.cancel_order(filled.broker_order_id)


def test_it_triggers_a_stop_and_reports_the_fill_on_the_next_read(sim, adapter):
    adapter.place_order(order(cid="buy"))
    stop = adapter.place_order(sell(OrderType.STOP, cid="stop", stop_price="29000.0"))
    assert stop.status == OrderStatus.SUBMITTED

    sim.set_price(BTC, Decimal("28900.0"))

    assert adapter.get_order(stop.broker_order_id).status == OrderStatus.FILLED


# --- client order ids and lost answers -------------------------------------------------------------


def test_it_relies_on_cl_ord_id_being_unique_among_open_orders_only(sim, adapter):
    first = adapter.place_order(order(OrderType.LIMIT, cid="again", limit_price="29000.0"))
    repeat = adapter.place_order(order(OrderType.LIMIT, cid="again", limit_price="29000.0"))
    assert repeat.broker_order_id == first.broker_order_id  # Kraken refused it as a duplicate
    assert len(sim.orders_by_client_id("again")) == 1

    sim.fill(first.broker_order_id)
    reused = adapter.place_order(order(OrderType.LIMIT, cid="again", limit_price="29000.0"))

    assert reused.broker_order_id != first.broker_order_id  # closed: Kraken accepts the id again
    assert adapter.find_order("again").broker_order_id == reused.broker_order_id  # the newest


def test_it_finds_a_lost_addorder_answer_among_closed_orders_without_a_second_order(sim, adapter):
    sim.faults.add("drop_response", match="AddOrder")
    with pytest.raises(BrokerUnavailable):
        adapter.place_order(order(cid="lost-answer"))

    found = adapter.find_order("lost-answer")

    assert found is not None and found.status == OrderStatus.FILLED  # a market order: closed at once
    assert found.client_order_id == "lost-answer"
    assert len(sim.orders_by_client_id("lost-answer")) == 1
    assert [r.path.rsplit("/", 1)[1] for r in sim.requests[-2:]] == ["OpenOrders", "ClosedOrders"]
    assert adapter.find_order("never-sent") is None


def test_it_sends_a_long_client_id_as_a_stable_uuid(sim, adapter):
    cid = "bot-42:signal-1234567890:tp"
    state = adapter.place_order(order(OrderType.LIMIT, cid=cid, limit_price="29000.0"))

    sent = private_calls(sim, "AddOrder")[-1]["cl_ord_id"][0]
    assert len(sent) == 36 and adapter.find_order(cid).broker_order_id == state.broker_order_id


# --- fills ----------------------------------------------------------------------------------------


def test_it_reports_each_kraken_trade_of_an_order_once(sim, adapter):
    resting = adapter.place_order(order(OrderType.LIMIT, cid="parts", qty="0.03", limit_price="29000.0"))
    first = sim.fill(resting.broker_order_id, Decimal("0.01"))
    sim.faults.add("duplicate_fill")
    second = sim.fill(resting.broker_order_id, Decimal("0.02"))

    state = adapter.get_order(resting.broker_order_id)

    assert state.status == OrderStatus.FILLED and state.filled_qty == Decimal("0.03")
    assert [(f.execution_id, f.qty) for f in state.fills] == [
        (first.txid, Decimal("0.01")),
        (second.txid, Decimal("0.02")),
    ]
    assert adapter.open_orders() == [] and adapter.order_history()[0].fills == state.fills


# --- account and market data ---------------------------------------------------------------------


def test_it_values_holdings_at_the_ticker_and_averages_their_cost(sim, adapter):
    adapter.place_order(order(qty="0.1"))
    sim.set_price(BTC, Decimal("31000.0"))

    balance, positions = adapter.balance(), adapter.positions()

    cash = Decimal("96992.1900")  # 100000 - 0.1 x 30000.1 (the ask) - 7.80026 fee, in ZUSD's 4 decimals
    assert balance.cash == cash and balance.currency == "USD"
    assert balance.equity == (cash + Decimal("3100.0")).quantize(Decimal("0.01"))
    [position] = positions
    assert (position.symbol, position.qty, position.avg_price) == (BTC, Decimal("0.1"), Decimal("30000.1"))
    assert position.unrealized_pnl == Decimal("99.99")


def test_it_reads_fees_from_trade_volume(adapter):
    fees = adapter.fees()

    assert (fees.maker_pct, fees.taker_pct, fees.currency) == (Decimal("0.1600"), Decimal("0.2600"), "USD")


def test_it_describes_instruments_with_asset_pairs_tick_lot_and_minimum(adapter):
    btc, doge = adapter.instrument("btc/usd"), adapter.instrument("DOGE/USD")

    assert (btc.broker_symbol, btc.tick_size, btc.lot_size, btc.min_qty) == (
        "XXBTZUSD",
        Decimal("0.1"),
        Decimal("1E-8"),
        Decimal("0.0001"),
    )
    assert (doge.broker_symbol, doge.tick_size, doge.min_qty) == ("XDGUSD", Decimal("1E-7"), Decimal("13"))
    assert {i.symbol for i in adapter.instruments()} == {BTC, "ETH/USD", "SOL/USD", "DOGE/USD", "BTC/EUR"}
    with pytest.raises(InvalidSymbol):
        adapter.instrument("FOO/USD")


def test_it_quotes_many_pairs_in_one_ticker_call(sim, adapter):
    sim.set_price("ETH/USD", Decimal("2100.00"))

    quotes = adapter.quotes([BTC, "ETH/USD", "FOO/USD"])

    assert set(quotes) == {BTC, "ETH/USD"} and quotes["ETH/USD"].source == "kraken"
    eth = quotes["ETH/USD"]
    assert (eth.price, eth.bid, eth.ask, eth.change, eth.change_pct) == (
        Decimal("2100.00"),
        Decimal("2099.99"),
        Decimal("2100.01"),
        Decimal("100.00"),
        Decimal("5.00"),
    )
    [ticker] = [r for r in sim.requests if r.path == "/0/public/Ticker"]
    assert ticker.arg("pair") == "XXBTZUSD,XETHZUSD"


def test_its_market_data_source_validates_from_cached_pairs_and_batches_quotes(sim):
    source = KrakenMarketData()

    assert source.validate(" xbt/usd ") == BTC and source.validate("doge/usd") == "DOGE/USD"
    with pytest.raises(InvalidSymbol):
        source.validate("AAPL")
    quotes = source.quotes([BTC, "SOL/USD", "AAPL"])

    assert set(quotes) == {BTC, "SOL/USD"} and quotes[BTC].source == "kraken"
    paths = [r.path for r in sim.requests]
    assert paths.count("/0/public/AssetPairs") == 1 and paths.count("/0/public/Ticker") == 1
    assert not any("/private/" in path for path in paths)
