"""What is particular to Schwab, through the unmodified schwab-py against the Schwab simulator.

OAuth (Basic-authenticated code exchange, 30-minute access and 7-day refresh tokens, rotation,
refreshing under the connection's row lock), every HTTP status translated, the order id from the
`Location` header of an empty 201, brackets as TRIGGER + OCO, lost answers matched on recent
orders, quotes with `invalidSymbols`, fees from `previewOrder`.
"""

from __future__ import annotations

import base64
import functools
import json
import threading
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
from django import db

from brokers.adapters import base
from brokers.adapters.base import (
    AdapterContext,
    AuthenticationFailed,
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
from brokers.adapters.schwab import adapter as schwab_adapter
from brokers.adapters.schwab import auth, orders
from brokers.adapters.schwab.adapter import SchwabAdapter
from brokers.models import BrokerConnection
from brokers.vault import credentials_load, credentials_rotate, credentials_store
from tests.brokers.contract.harnesses.schwab import CALLBACK_URL, authorised_token, follow_authorize
from tests.simulators.base import running
from tests.simulators.schwab import SchwabSimulator

HALF_HOUR = 31 * 60
WEEK = 7 * 24 * 3600


@pytest.fixture
def sim(settings):
    with running(SchwabSimulator()) as sim:
        settings.SCHWAB_API_URL = sim.url
        yield sim


@pytest.fixture
def connection(db, user, sim) -> BrokerConnection:
    connection = BrokerConnection.objects.create(user=user, broker="schwab", label="Schwab")
    values = {"app_key": sim.app_key, "app_secret": sim.app_secret, "token": authorised_token(sim)}
    credentials_store(connection=connection, values=values)
    return connection


def stored_adapter(connection: BrokerConnection) -> SchwabAdapter:
    """The adapter as the platform builds it: vault credentials, refreshed tokens saved under the row lock."""
    update = functools.partial(credentials_rotate, connection_id=connection.pk)
    context = AdapterContext(user_id=connection.user_id, connection_id=connection.pk, credentials_update=update)
    return SchwabAdapter(credentials_load(connection=connection), paper=False, context=context)


@pytest.fixture
def adapter(connection):
    adapter = stored_adapter(connection)
    yield adapter
    adapter.close()


def stored_token(connection: BrokerConnection) -> dict:
    return json.loads(credentials_load(connection=connection)["token"])


def requests_to(sim: SchwabSimulator, method: str, suffix: str) -> list:
    return [r for r in sim.requests if r.method == method and r.path.endswith(suffix)]


def buy(qty: str = "10", kind: OrderType = OrderType.MARKET, **prices: Decimal) -> OrderRequest:
    return OrderRequest("ours-1", "AAPL", Side.BUY, kind, Decimal(qty), **prices)


# --- OAuth ---------------------------------------------------------------------------------------


def test_it_exchanges_the_code_with_http_basic_app_key_and_secret(sim):
    token = json.loads(authorised_token(sim))

    (exchange,) = requests_to(sim, "POST", "/v1/oauth/token")
    assert (
        exchange.headers["authorization"]
        == "Basic " + base64.b64encode(f"{sim.app_key}:{sim.app_secret}".encode()).decode()
    )
    assert exchange.headers["content-type"].startswith("application/x-www-form-urlencoded")
    form = {k: v[0] for k, v in parse_qs(exchange.body.decode()).items()}
    assert form["grant_type"] == "authorization_code"
    assert form["redirect_uri"] == CALLBACK_URL
    assert form["code"].endswith("@")
    assert token["token"]["refresh_token"] and token["creation_timestamp"] > 0


def test_it_refuses_a_code_exchange_with_a_wrong_secret_or_a_spent_code(sim):
    params = follow_authorize(auth.authorize_url(app_key=sim.app_key, redirect_uri=CALLBACK_URL, state="s"))
    exchange = functools.partial(auth.token_exchange, code=params["code"], redirect_uri=CALLBACK_URL, timeout=5)

    with pytest.raises(AuthenticationFailed, match="refused the authorisation"):
        exchange(app_key=sim.app_key, app_secret="not-the-secret")
    exchange(app_key=sim.app_key, app_secret=sim.app_secret)
    with pytest.raises(AuthenticationFailed):
        exchange(app_key=sim.app_key, app_secret=sim.app_secret)


def test_it_sends_schwab_py_requests_to_the_configured_host_with_the_bearer_token(adapter, sim, connection):
    account = adapter.connect()

    assert account.id == sim.account.hash_value and account.currency == "USD" and account.paper is False
    (call,) = requests_to(sim, "GET", "/trader/v1/accounts/accountNumbers")
    assert call.headers["authorization"] == f"Bearer {stored_token(connection)['token']['access_token']}"
    assert call.headers["host"] == f"127.0.0.1:{sim.port}"


def test_it_refuses_to_connect_before_the_user_authorised(sim):
    credentials = {"app_key": sim.app_key, "app_secret": sim.app_secret}
    adapter = SchwabAdapter(credentials, paper=False, context=AdapterContext(user_id=1))

    with pytest.raises(AuthenticationFailed, match="not been authorised"):
        adapter.connect()


def test_it_refreshes_an_expired_access_token_and_saves_the_rotated_one_in_the_vault(adapter, sim, connection):
    before = stored_token(connection)
    sim.clock.advance(HALF_HOUR)  # Schwab now answers 401 to the old access token

    adapter.balance()

    after = stored_token(connection)
    assert sim.oauth.refreshes == 1
    assert after["token"]["refresh_token"] != before["token"]["refresh_token"]
    assert after["creation_timestamp"] == before["creation_timestamp"]  # the sign-in's 7 days are not extended
    assert before["token"]["refresh_token"] in sim.oauth.state.spent_refresh
    assert stored_adapter(connection).balance().cash == Decimal("100000.00")  # a new worker uses the stored one


def test_it_refreshes_before_calling_when_the_token_is_about_to_run_out(connection, sim):
    stale = stored_token(connection)
    stale["token"]["expires_at"] = int(datetime.now(UTC).timestamp()) + 60  # within the 5-minute margin
    credentials_rotate(lambda stored: {"token": json.dumps(stale)}, connection_id=connection.pk)
    sim.clock.advance(HALF_HOUR)

    stored_adapter(connection).positions()

    calls = [(r.method, r.path.rsplit("/", 1)[-1]) for r in sim.requests if "authorize" not in r.path]
    # Refreshed first, then the calls: Schwab never saw the stale token.
    assert calls[-3:] == [("POST", "token"), ("GET", "accountNumbers"), ("GET", sim.account.hash_value)]


def test_it_enforces_the_seven_day_limit_of_the_refresh_token(adapter, sim):
    sim.clock.advance(WEEK + 60)

    with pytest.raises(AuthenticationFailed, match="Authorise Tradewire at Schwab again"):
        adapter.balance()


def test_it_adopts_the_token_another_worker_refreshed_instead_of_spending_the_old_one(connection, sim):
    first, second = stored_adapter(connection), stored_adapter(connection)  # two workers, same stored token
    sim.clock.advance(HALF_HOUR)

    first.balance()
    second.balance()  # its token is refused; under the lock it finds the first worker's newer one

    assert sim.oauth.refreshes == 1
    assert second._keeper.access_token == stored_token(connection)["token"]["access_token"]


@pytest.mark.django_db(transaction=True)
def test_it_never_loses_the_newer_refresh_token_when_two_workers_refresh_at_once(connection, sim):
    # The vault's row lock: PostgreSQL's SELECT ... FOR UPDATE waits; the test database (in-memory,
    # shared-cache SQLite) refuses a second writer instead of waiting, so the two are queued here.
    queue = threading.Lock()

    def update(change):
        with queue:
            return credentials_rotate(change, connection_id=connection.pk)

    context = AdapterContext(user_id=connection.user_id, connection_id=connection.pk, credentials_update=update)
    credentials = credentials_load(connection=connection)
    # Two workers holding the same token, soon stale.
    workers = [SchwabAdapter(credentials, paper=False, context=context) for _ in range(2)]
    sim.clock.advance(HALF_HOUR)
    errors: list[Exception] = []

    threads = [threading.Thread(target=_balance_in_thread, args=(worker, errors)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert errors == [] and sim.oauth.refreshes == 1  # one refreshed; the other took its token
    stored = stored_token(connection)["token"]
    assert stored["refresh_token"] in sim.oauth.state.refresh  # the stored one is the one Schwab honours
    assert {worker._keeper.access_token for worker in workers} == {stored["access_token"]}


def _balance_in_thread(adapter: SchwabAdapter, errors: list[Exception]) -> None:
    try:
        adapter.balance()
    except Exception as exc:  # noqa: BLE001 - collected for the assertion
        errors.append(exc)
    finally:
        db.connection.close()


def test_it_asks_for_a_new_authorisation_when_schwab_revokes_the_tokens(adapter, sim):
    sim.oauth.state.access.clear()
    sim.oauth.state.refresh.clear()

    with pytest.raises(AuthenticationFailed, match="again from the brokers page"):
        adapter.positions()


# --- statuses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "error"),
    [
        ("rate_limit", 0, RateLimited),
        ("server_error", 500, BrokerUnavailable),
        ("server_error", 503, BrokerUnavailable),
        ("server_error", 403, AuthenticationFailed),
        ("timeout", 0, BrokerUnavailable),
        ("drop_response", 0, BrokerUnavailable),
    ],
)
def test_it_translates_schwab_failures(adapter, sim, fault, status, error):
    adapter.connect()
    sim.faults.add(fault, match="/trader/", status=status)

    with pytest.raises(error) as raised:
        adapter.balance()
    assert raised.value.temporary is (error in (RateLimited, BrokerUnavailable))
    if error is RateLimited:
        assert raised.value.retry_after == 1.0


def test_it_gives_up_on_a_call_that_schwab_does_not_answer_in_time(connection, sim, monkeypatch):
    monkeypatch.setattr(schwab_adapter, "REQUESTS_PER_CALL", 75)  # 0.2 s per request instead of 5 s
    adapter = stored_adapter(connection)
    adapter.connect()
    sim.faults.add("timeout", match="/trader/", seconds=1.0)

    with pytest.raises(BrokerUnavailable, match="did not answer in time"):
        adapter.balance()


@pytest.mark.parametrize(("fault", "error"), [("rate_limit", RateLimited), ("server_error", BrokerUnavailable)])
def test_it_translates_token_endpoint_failures(adapter, sim, fault, error):
    sim.clock.advance(HALF_HOUR)
    sim.faults.add(fault, match="/v1/oauth/token")

    with pytest.raises(error):
        adapter.balance()
    assert adapter.balance().currency == "USD"  # nothing was spent: the next call refreshes


def test_it_translates_order_refusals(adapter, sim):
    with pytest.raises(InvalidSymbol):
        adapter.place_order(OrderRequest("x", "ZZZZ", Side.BUY, OrderType.MARKET, Decimal(1)))
    with pytest.raises(InvalidSymbol):
        adapter.place_order(OrderRequest("x", "BTC/USD", Side.BUY, OrderType.MARKET, Decimal(1)))
    with pytest.raises(OrderRejected, match="whole shares"):
        adapter.place_order(buy("0.5"))
    with pytest.raises(OrderNotFound):
        adapter.get_order("999")
    with pytest.raises(OrderNotFound):
        adapter.cancel_order("999")
    filled = adapter.place_order(buy())
    with pytest.raises(OrderRejected, match="cannot be canceled"):
        adapter.cancel_order(filled.broker_order_id)


def test_it_reports_insufficient_funds_from_schwabs_400(adapter, sim):
    sim.fund(Decimal("100.00"))

    with pytest.raises(InsufficientFunds, match="buying power"):
        adapter.place_order(buy())
    assert requests_to(sim, "POST", "/orders") and not sim.book.orders


# --- orders --------------------------------------------------------------------------------------


def test_it_reads_the_order_id_from_the_location_header_of_an_empty_201(adapter, sim):
    state = adapter.place_order(buy())

    (order,) = sim.book.top
    assert state.broker_order_id == str(order.order_id)
    assert state.status is OrderStatus.FILLED and state.filled_qty == 10
    assert state.avg_fill_price == sim.book.listings["AAPL"].ask
    # Any host: Schwab's, a proxy's, this simulator's (schwab-py's own helper only knows Schwab's).
    assert orders.order_id_from_location(f"{sim.url}/trader/v1/accounts/ABC/orders/42") == "42"
    assert orders.order_id_from_location("https://api.schwabapi.com/trader/v1/accounts/ABC/orders/7") == "7"


def test_it_sends_stop_and_stop_limit_orders_as_schwab_documents_them(adapter, sim):
    adapter.place_order(buy(kind=OrderType.STOP, stop_price=Decimal("190.00")))
    adapter.place_order(
        OrderRequest(
            "ours-2",
            "AAPL",
            Side.BUY,
            OrderType.STOP_LIMIT,
            Decimal(3),
            time_in_force=TimeInForce.GTC,
            stop_price=Decimal("190.00"),
            limit_price=Decimal("190.20"),
        )
    )

    stop, stop_limit = (json.loads(r.body) for r in requests_to(sim, "POST", "/orders"))
    assert stop["orderType"] == "STOP" and stop["stopPrice"] == "190.00" and "price" not in stop
    assert stop_limit["orderType"] == "STOP_LIMIT" and stop_limit["price"] == "190.20"
    assert stop_limit["duration"] == "GOOD_TILL_CANCEL" and stop_limit["session"] == "NORMAL"
    assert stop_limit["orderLegCollection"] == [
        {"instruction": "BUY", "instrument": {"symbol": "AAPL", "assetType": "EQUITY"}, "quantity": 3}
    ]
    sim.set_price("AAPL", Decimal("190.50"))
    assert {s.type: s.status for s in adapter.open_orders()} == {OrderType.STOP_LIMIT: OrderStatus.SUBMITTED}


def test_it_places_a_bracket_as_a_trigger_with_an_oco_child(adapter, sim):
    request = buy(
        "5",
        OrderType.LIMIT,
        limit_price=Decimal("187.00"),
        take_profit_limit_price=Decimal("200.00"),
        stop_loss_stop_price=Decimal("180.00"),
    )
    state = adapter.place_order(request)

    (posted,) = (json.loads(r.body) for r in requests_to(sim, "POST", "/orders"))
    assert posted["orderStrategyType"] == "TRIGGER"
    (oco,) = posted["childOrderStrategies"]
    assert oco["orderStrategyType"] == "OCO"
    take, stop = oco["childOrderStrategies"]
    assert (take["orderType"], take["price"]) == ("LIMIT", "200.00")
    assert take["orderLegCollection"][0]["instruction"] == "SELL"
    assert (stop["orderType"], stop["stopPrice"], stop["duration"]) == ("STOP", "180.00", "GOOD_TILL_CANCEL")
    assert state.status is OrderStatus.SUBMITTED
    assert [(leg.role, leg.status) for leg in state.legs] == [
        ("take_profit", OrderStatus.PENDING),
        ("stop_loss", OrderStatus.PENDING),
    ]

    sim.set_price("AAPL", Decimal("186.00"))  # the entry fills, its exits go live
    sim.set_price("AAPL", Decimal("179.00"))  # the stop-loss fires, the take-profit is canceled
    after = adapter.get_order(state.broker_order_id)
    assert after.status is OrderStatus.FILLED
    assert {leg.role: leg.status for leg in after.legs} == {
        "take_profit": OrderStatus.CANCELED,
        "stop_loss": OrderStatus.FILLED,
    }
    assert adapter.positions() == []


def test_it_matches_a_dropped_order_on_recent_orders_and_never_sends_it_again(adapter, sim):
    adapter.connect()
    request = buy("7", OrderType.LIMIT, limit_price=Decimal("150.00"))
    adapter.place_order(buy("7", OrderType.LIMIT, limit_price=Decimal("151.00")))  # a similar order of ours
    since = datetime.now(UTC)
    sim.faults.add("drop_response", match=r"POST .*/orders$")

    with pytest.raises(BrokerUnavailable):
        adapter.place_order(request)  # placed at Schwab, its answer lost

    found = adapter.match_recent_order(request, since)
    assert found is not None and found.broker_order_id == str(sim.book.top[-1].order_id)
    assert (found.qty, found.status, found.type) == (Decimal(7), OrderStatus.SUBMITTED, OrderType.LIMIT)
    assert adapter.match_recent_order(request, since, exclude={found.broker_order_id}) is None
    assert adapter.match_recent_order(buy("8", OrderType.LIMIT, limit_price=Decimal("150.00")), since) is None
    assert len(requests_to(sim, "POST", "/orders")) == 2  # sent once each, never again
    assert adapter.find_order("ours-1") is None  # nothing to search by at Schwab


def test_it_reports_each_execution_once_when_schwab_repeats_it(adapter, sim):
    sim.faults.add("duplicate_fill")

    state = adapter.place_order(buy("4"))

    (order,) = sim.book.top
    assert len(order.activities) == 2  # Schwab reported the one execution twice
    assert len(state.fills) == 1 and state.fills[0].qty == 4 and state.filled_qty == 4


def test_it_reports_partial_fills(adapter, sim):
    state = adapter.place_order(buy("10", OrderType.LIMIT, limit_price=Decimal("150.00")))
    sim.fill(state.broker_order_id, Decimal(4))

    partial = adapter.get_order(state.broker_order_id)
    assert (partial.status, partial.filled_qty, partial.avg_fill_price) == (
        OrderStatus.PARTIALLY_FILLED,
        Decimal(4),
        Decimal("150.00"),
    )
    assert [s.broker_order_id for s in adapter.open_orders()] == [state.broker_order_id]
    assert adapter.order_history(limit=1)[0].broker_order_id == state.broker_order_id


# --- account and market data ---------------------------------------------------------------------


def test_it_reads_balances_and_positions_as_schwab_documents_them(adapter, sim):
    cost = 10 * sim.book.listings["AAPL"].ask
    adapter.place_order(buy("10"))
    sim.set_price("AAPL", Decimal("190.00"))

    balance = adapter.balance()
    (position,) = adapter.positions()

    assert balance.cash == Decimal("100000.00") - cost
    assert balance.equity == balance.cash + Decimal("1900.00")
    assert (position.symbol, position.qty, position.avg_price) == ("AAPL", 10, Decimal("187.26"))
    assert (position.market_value, position.unrealized_pnl) == (Decimal("1900.00"), Decimal("1900.00") - cost)


def test_it_leaves_symbols_schwab_calls_invalid_out_of_quotes(adapter, sim):
    quotes = adapter.quotes(["AAPL", "ZZZZ", "BTC/USD"])

    assert set(quotes) == {"AAPL"}
    quote = quotes["AAPL"]
    assert (quote.price, quote.bid, quote.ask, quote.source) == (
        Decimal("187.25"),
        Decimal("187.24"),
        Decimal("187.26"),
        "schwab",
    )
    (call,) = requests_to(sim, "GET", "/marketdata/v1/quotes")
    assert call.query["symbols"] == ["AAPL,ZZZZ"]  # crypto never reaches Schwab
    assert sim.dispatch(call).body["errors"] == {"invalidSymbols": ["ZZZZ"]}


def test_it_describes_instruments_and_refuses_unknown_ones(adapter):
    instrument = adapter.instrument("msft")

    assert (instrument.symbol, instrument.tick_size, instrument.lot_size, instrument.min_qty) == (
        "MSFT",
        Decimal("0.01"),
        Decimal(1),
        Decimal(1),
    )
    with pytest.raises(InvalidSymbol):
        adapter.instrument("ZZZZ")
    assert adapter.instruments() == []


def test_it_prices_fees_with_preview_order(adapter, sim):
    sim.book.commission = Decimal("0.65")

    fees = adapter.fees()

    assert fees.per_order == Decimal("0.65") and fees.currency == "USD"
    (preview,) = requests_to(sim, "POST", "/previewOrder")
    assert json.loads(preview.body)["orderLegCollection"][0]["instrument"]["symbol"] == "SPY"


def test_it_is_a_broker_adapter(adapter):
    assert isinstance(adapter, base.BrokerAdapter)
