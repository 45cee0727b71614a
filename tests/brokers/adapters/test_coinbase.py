"""What is unique to Coinbase: CDP JWT auth, ccxt's error quirks, client-id dedup, brackets, v3 balances.

Everything runs through the unmodified ccxt `coinbase` against tests/simulators/coinbase; the
shared behaviour (each order type filling, cancel, history, quotes) is the contract suite's.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import ccxt
import pytest
import requests

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
    TimeInForce,
)
from brokers.adapters.coinbase.adapter import CoinbaseAdapter
from brokers.adapters.coinbase.errors import TRANSLATOR
from brokers.adapters.coinbase.marketdata import CoinbaseMarketData
from brokers.adapters.coinbase.orders import end_of_day
from brokers.adapters.registry import build_adapter, get_spec
from brokers.services.orders.placing import capabilities_check
from config.domain import InvalidInput
from tests.simulators.base import running
from tests.simulators.coinbase import CoinbaseSimulator, ec_key, ed25519_key

ORDERS = "/api/v3/brokerage/orders"


@pytest.fixture
def sim(settings):
    with running(CoinbaseSimulator()) as simulator:
        settings.COINBASE_API_URL = simulator.url
        settings.BROKER_TIMEOUT_SECONDS = 1.5  # 0.5 s per request
        yield simulator


def make(sim: CoinbaseSimulator, credentials: dict[str, str] | None = None) -> CoinbaseAdapter:
    return CoinbaseAdapter(credentials or sim.key.credentials, paper=False, context=AdapterContext(user_id=1))


@pytest.fixture
def adapter(sim):
    built = make(sim)
    yield built
    built.close()


def order(**overrides: object) -> OrderRequest:
    values: dict[str, object] = {
        "client_order_id": uuid.uuid4().hex,
        "symbol": "BTC/USD",
        "side": Side.BUY,
        "type": OrderType.MARKET,
        "qty": Decimal("0.01"),
    }
    return OrderRequest(**{**values, **overrides})  # type: ignore[arg-type]


def sent_orders(sim: CoinbaseSimulator) -> list[dict]:
    return [r.json() for r in sim.requests if r.target == f"POST {ORDERS}"]


def jwt_part(token_header: str, index: int) -> dict:
    part = token_header.split(" ", 1)[1].split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# --- authentication ----------------------------------------------------------------------------


def test_it_is_the_registry_entry_for_coinbase_and_its_alias(sim):
    built = build_adapter("coinbasepro", sim.key.credentials, paper=False, context=AdapterContext(user_id=1))
    caps = get_spec("coinbase").capabilities
    assert isinstance(built, CoinbaseAdapter)
    assert isinstance(built, BrokerAdapter)
    assert OrderType.STOP not in caps.order_types
    assert (caps.bracket, caps.client_id_dedup) == ("native", "unique")


def test_it_signs_every_private_call_with_an_es256_jwt_bound_to_the_request(sim, adapter):
    account = adapter.connect()

    assert (account.id, account.currency, account.paper) == (sim.ledger.portfolio_uuid, "USD", False)
    signed = [r for r in sim.requests if "authorization" in r.headers]
    assert signed and not sim.auth_failures
    header, claims = jwt_part(signed[0].headers["authorization"], 0), jwt_part(signed[0].headers["authorization"], 1)
    assert (header["alg"], header["kid"], claims["sub"]) == ("ES256", sim.key.name, sim.key.name)
    assert claims["exp"] - claims["nbf"] <= 120
    assert claims["uri"].endswith(f"{signed[0].headers['host']}{signed[0].path}")


def test_it_signs_with_eddsa_for_an_ed25519_key(sim):
    key = sim.add_key(ed25519_key())
    adapter = make(sim, key.credentials)

    assert adapter.connect().id == sim.ledger.portfolio_uuid
    token = sim.requests[-1].headers["authorization"]
    assert (jwt_part(token, 0)["alg"], jwt_part(token, 1)["iss"]) == ("EdDSA", "cdp")


def test_it_refuses_a_key_name_coinbase_does_not_know(sim):
    with pytest.raises(AuthenticationFailed, match="key name"):
        make(sim, ec_key().credentials).connect()
    assert sim.auth_failures == ["unknown key name"]


def test_it_refuses_a_token_signed_by_another_private_key(sim):
    impostor = ec_key(name=sim.key.name)  # the right name, the wrong key

    with pytest.raises(AuthenticationFailed):
        make(sim, impostor.credentials).connect()
    assert sim.auth_failures == ["bad signature"]


def test_it_refuses_an_expired_token(sim, adapter):
    sim.clock_offset = 600  # Coinbase's clock ten minutes ahead: every two-minute token has expired

    with pytest.raises(AuthenticationFailed, match="clock"):
        adapter.connect()
    assert sim.auth_failures == ["token expired"]


def test_it_refuses_a_token_signed_for_another_request(sim):
    minted = ccxt.coinbase({"apiKey": sim.key.name, "secret": sim.key.secret})
    token = minted.create_auth_token(minted.seconds(), "GET", f"{sim.url}/api/v3/brokerage/portfolios")
    answer = requests.get(
        f"{sim.url}/api/v3/brokerage/accounts", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )

    assert (answer.status_code, answer.text) == (401, "Unauthorized\n")
    assert sim.auth_failures[0].startswith("uri claim")


@pytest.mark.parametrize(
    "credentials",
    [
        {"api_key_name": "", "api_private_key": ""},
        {"api_key_name": "-----BEGIN EC PRIVATE KEY-----", "api_private_key": "x"},
        {"api_key_name": "organizations/o/apiKeys/k", "api_private_key": "not a key"},
    ],
)
def test_it_refuses_credentials_that_cannot_be_a_cdp_key_without_calling_coinbase(sim, credentials):
    with pytest.raises(AuthenticationFailed):
        make(sim, credentials).connect()
    assert sim.requests == []


def test_it_accepts_a_pem_pasted_with_escaped_newlines(sim):
    pasted = {**sim.key.credentials, "api_private_key": sim.key.secret.strip().replace("\n", "\\n")}

    assert make(sim, pasted).connect().currency == "USD"


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "match", "error"),
    [
        ("rate_limit", 0, "accounts", RateLimited),  # v3 body: {"error": "RATE_LIMIT_EXCEEDED", ...}
        ("rate_limit", 0, "/v2/currencies", RateLimited),  # v2 body: {"errors": [{"id": "rate_limit_exceeded"}]}
        ("server_error", 500, "accounts", BrokerUnavailable),  # {"error": "INTERNAL", ...}
        ("server_error", 503, "accounts", BrokerUnavailable),  # plain text from the edge
        ("timeout", 0, "accounts", BrokerUnavailable),
        ("drop_response", 0, "accounts", BrokerUnavailable),
    ],
)
def test_it_translates_coinbase_outages_and_limits(sim, adapter, kind, status, match, error):
    adapter.connect()
    sim.faults.add(kind, match=match, status=status, seconds=1.0)

    with pytest.raises(error) as raised:
        adapter.balance()
    if error is RateLimited:
        assert raised.value.retry_after == 1.0


@pytest.mark.parametrize(
    ("vendor", "ours"),
    [
        (ccxt.AuthenticationError("coinbase GET 401 Unauthorized"), AuthenticationFailed),
        (ccxt.PermissionDenied('coinbase {"error": "PERMISSION_DENIED"}'), AuthenticationFailed),
        (ccxt.InsufficientFunds("coinbase {}"), InsufficientFunds),
        (ccxt.BadSymbol("coinbase does not have market symbol XYZ/USD"), InvalidSymbol),
        (ccxt.OrderNotFound("coinbase order not found"), OrderNotFound),
        (ccxt.DDoSProtection("coinbase 429"), RateLimited),
        (ccxt.RateLimitExceeded("coinbase 429"), RateLimited),
        (ccxt.RequestTimeout("coinbase GET timed out"), BrokerUnavailable),
        (ccxt.ExchangeNotAvailable("coinbase 503"), BrokerUnavailable),
        (ccxt.InvalidNonce("coinbase request timestamp expired"), BrokerUnavailable),
        (ccxt.NetworkError("coinbase connection reset"), BrokerUnavailable),
        (ccxt.InvalidOrder("coinbase {}"), OrderRejected),
        (ccxt.BadRequest('coinbase {"error": "INVALID_ARGUMENT", "message": "bad size"}'), OrderRejected),
        (ccxt.ExchangeError('coinbase {"error": "RATE_LIMIT_EXCEEDED", "message": "Too many"}'), RateLimited),
        (ccxt.ExchangeError('coinbase {"error": "INTERNAL", "message": "oops"}'), BrokerUnavailable),
        (ccxt.ExchangeError("coinbase something new"), BrokerError),
    ],
)
def test_it_maps_every_ccxt_error_to_ours(vendor, ours):
    error = TRANSLATOR.error(vendor)

    assert type(error) is ours
    assert not isinstance(error, RateLimited) or error.retry_after == 1.0


def test_it_has_no_paper_accounts(sim):
    paper = CoinbaseAdapter(sim.key.credentials, paper=True, context=AdapterContext(user_id=1))

    with pytest.raises(BrokerError, match="no paper trading"):
        paper.connect()


def test_it_reports_insufficient_funds(sim, adapter):
    sim.fund(Decimal("100"))

    with pytest.raises(InsufficientFunds, match="Insufficient balance"):
        adapter.place_order(order())


@pytest.mark.parametrize("symbol", ["XYZ/USD", "AAPL", "BTC/XYZ"])
def test_it_reports_symbols_coinbase_does_not_trade(sim, adapter, symbol):
    with pytest.raises(InvalidSymbol):
        adapter.instrument(symbol)
    with pytest.raises(InvalidSymbol):
        adapter.place_order(order(symbol=symbol))
    assert sent_orders(sim) == []


def test_it_reports_orders_coinbase_does_not_know(sim, adapter):
    unknown = str(uuid.uuid4())

    with pytest.raises(OrderNotFound):
        adapter.get_order(unknown)
    with pytest.raises(OrderNotFound):
        adapter.cancel_order(unknown)


@pytest.mark.parametrize(
    "request_",
    [
        order(qty=Decimal("0.000000001")),  # finer than BTC-USD's base increment
        order(type=OrderType.LIMIT, limit_price=Decimal("59000.001"), time_in_force=TimeInForce.GTC),
        # a sell stop must sit below the last price (PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE)
        order(side=Side.SELL, type=OrderType.STOP_LIMIT, stop_price=Decimal("61000"), limit_price=Decimal("60900")),
    ],
)
def test_it_passes_on_what_coinbase_rejects(sim, adapter, request_):
    with pytest.raises(OrderRejected, match="Coinbase rejected"):
        adapter.place_order(request_)


def test_it_refuses_a_cancel_of_a_filled_order(sim, adapter):
    placed = adapter.place_order(order())

    with pytest.raises(OrderRejected, match="already filled"):
        adapter.cancel_order(placed.broker_order_id)
    assert any(r.target == f"POST {ORDERS}/batch_cancel" for r in sim.requests)


# --- client order ids ---------------------------------------------------------------------------


def test_it_gets_the_first_order_back_for_a_repeated_client_order_id(sim, adapter):
    first = adapter.place_order(order(client_order_id="dup-1"))
    again = adapter.place_order(order(client_order_id="dup-1", qty=Decimal("0.02")))

    assert again.broker_order_id == first.broker_order_id
    assert again.qty == Decimal("0.01")
    assert len(sim.orders_by_client_id("dup-1")) == 1


def test_it_recovers_an_order_whose_answer_was_lost_by_its_client_id(sim, adapter):
    request_ = order(type=OrderType.LIMIT, limit_price=Decimal("59000"), time_in_force=TimeInForce.GTC)
    sim.faults.add("drop_response", match=f"POST {ORDERS}$")

    with pytest.raises(BrokerUnavailable):
        adapter.place_order(request_)
    found = adapter.find_order(request_.client_order_id)
    retried = adapter.place_order(request_)

    [placed] = sim.orders_by_client_id(request_.client_order_id)
    assert found is not None and found.broker_order_id == placed["order_id"] == retried.broker_order_id
    assert found.status == OrderStatus.SUBMITTED
    assert adapter.find_order("never-sent") is None


# --- order shapes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "kind", "expected"),
    [
        (order(), "market_market_ioc", {"base_size": "0.01"}),
        (
            order(type=OrderType.LIMIT, limit_price=Decimal("59000.50"), time_in_force=TimeInForce.GTC),
            "limit_limit_gtc",
            {"base_size": "0.01", "limit_price": "59000.5", "post_only": False},
        ),
        (
            order(type=OrderType.LIMIT, limit_price=Decimal("59000"), time_in_force=TimeInForce.IOC),
            "sor_limit_ioc",
            {"base_size": "0.01", "limit_price": "59000"},
        ),
        (
            order(type=OrderType.LIMIT, limit_price=Decimal("59000"), time_in_force=TimeInForce.FOK),
            "limit_limit_fok",
            {"base_size": "0.01", "limit_price": "59000"},
        ),
        (
            order(type=OrderType.STOP_LIMIT, stop_price=Decimal("61000"), limit_price=Decimal("61100")),
            "stop_limit_stop_limit_gtd",
            {"base_size": "0.01", "limit_price": "61100", "stop_price": "61000"},
        ),
    ],
)
def test_it_sends_each_order_as_a_coinbase_order_configuration(sim, adapter, request_, kind, expected):
    adapter.place_order(request_)

    [body] = sent_orders(sim)
    assert body["client_order_id"] == request_.client_order_id
    assert (body["product_id"], body["side"]) == ("BTC-USD", "BUY")
    assert list(body["order_configuration"]) == [kind]
    assert expected.items() <= body["order_configuration"][kind].items()


def test_it_sends_a_day_order_as_good_till_the_next_utc_midnight(sim, adapter):
    adapter.place_order(order(type=OrderType.LIMIT, limit_price=Decimal("59000")))  # day is the default

    [body] = sent_orders(sim)
    assert body["order_configuration"]["limit_limit_gtd"]["end_time"] == end_of_day(datetime.now(UTC))
    assert end_of_day(datetime(2025, 3, 3, 23, 59, tzinfo=UTC)) == "2025-03-04T00:00:00Z"


def test_it_triggers_a_buy_stop_upwards_and_a_sell_stop_downwards(sim, adapter):
    adapter.place_order(order(type=OrderType.STOP_LIMIT, stop_price=Decimal("61000"), limit_price=Decimal("61100")))
    sim.fund(Decimal("1"), currency="BTC")
    sell = order(side=Side.SELL, type=OrderType.STOP_LIMIT, stop_price=Decimal("59000"), limit_price=Decimal("58900"))
    adapter.place_order(sell)

    directions = [next(iter(b["order_configuration"].values()))["stop_direction"] for b in sent_orders(sim)]
    assert directions == ["STOP_DIRECTION_STOP_UP", "STOP_DIRECTION_STOP_DOWN"]


@pytest.mark.parametrize(
    ("request_", "why"),
    [
        (order(type=OrderType.STOP, stop_price=Decimal("61000")), "no stop"),
        (order(take_profit_limit_price=Decimal("62000")), "both"),
        (
            order(
                take_profit_limit_price=Decimal("62000"),
                stop_loss_stop_price=Decimal("58000"),
                stop_loss_limit_price=Decimal("57900"),
            ),
            "stop-loss limit",
        ),
        (
            order(
                type=OrderType.STOP_LIMIT,
                stop_price=Decimal("61000"),
                limit_price=Decimal("61100"),
                time_in_force=TimeInForce.IOC,
            ),
            "good-till-cancelled or day",
        ),
    ],
)
def test_it_refuses_orders_coinbase_has_no_configuration_for(sim, adapter, request_, why):
    with pytest.raises(OrderRejected, match=why):
        adapter.place_order(request_)
    assert sent_orders(sim) == []


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (order(take_profit_limit_price=Decimal("62000")), "stop_loss"),
        (order(stop_loss_stop_price=Decimal("58000")), "take_profit"),
        (
            order(
                take_profit_limit_price=Decimal("62000"),
                stop_loss_stop_price=Decimal("58000"),
                stop_loss_limit_price=Decimal("57900"),
            ),
            "stop_loss",
        ),
        (
            order(
                type=OrderType.STOP_LIMIT,
                stop_price=Decimal("61000"),
                limit_price=Decimal("61100"),
                time_in_force=TimeInForce.IOC,
            ),
            "time_in_force",
        ),
    ],
)
def test_placing_refuses_what_coinbase_cannot_take_naming_the_field(request_, field):
    """A 400 on the field when the order is placed, not a 202 and a trade:failed from the worker."""
    spec = get_spec("coinbase")
    with pytest.raises(InvalidInput) as refused:
        capabilities_check(capabilities=spec.capabilities, request=request_, broker_name=spec.name)
    assert list(refused.value.fields) == [field]
    both = order(take_profit_limit_price=Decimal("62000"), stop_loss_stop_price=Decimal("58000"))
    capabilities_check(capabilities=spec.capabilities, request=both, broker_name=spec.name)  # the pair passes
    prices = {"stop_price": Decimal("61000"), "limit_price": Decimal("61100")}
    for tif in (TimeInForce.GTC, TimeInForce.DAY):  # what stop-limit orders take there
        request_ = order(type=OrderType.STOP_LIMIT, time_in_force=tif, **prices)
        capabilities_check(capabilities=spec.capabilities, request=request_, broker_name=spec.name)


def test_it_places_a_bracket_as_an_attached_trigger_bracket_and_reports_its_legs(sim, adapter):
    bracket = order(
        type=OrderType.LIMIT,
        limit_price=Decimal("59000"),
        time_in_force=TimeInForce.GTC,
        take_profit_limit_price=Decimal("62000"),
        stop_loss_stop_price=Decimal("58000"),
    )
    placed = adapter.place_order(bracket)

    [body] = sent_orders(sim)
    exits = {"limit_price": "62000", "stop_trigger_price": "58000"}
    assert body["attached_order_configuration"] == {"trigger_bracket_gtc": exits}
    assert [(leg.role, leg.status) for leg in placed.legs] == [
        ("take_profit", OrderStatus.PENDING),
        ("stop_loss", OrderStatus.PENDING),
    ]

    sim.set_price("BTC/USD", Decimal("59000"))  # the entry fills; the exits go live
    assert {leg.status for leg in adapter.get_order(placed.broker_order_id).legs} == {OrderStatus.SUBMITTED}
    assert [s.broker_order_id for s in adapter.open_orders()] == [placed.broker_order_id]

    sim.set_price("BTC/USD", Decimal("57900"))  # through the stop: the stop-loss exits
    done = adapter.find_order(bracket.client_order_id)
    assert done is not None
    tp, sl = done.legs
    assert (tp.client_order_id, tp.status) == (f"{bracket.client_order_id}:tp", OrderStatus.CANCELED)
    assert (sl.client_order_id, sl.status, sl.side) == (f"{bracket.client_order_id}:sl", OrderStatus.FILLED, Side.SELL)
    assert sl.avg_fill_price == Decimal("57899.99") and len(sl.fills) == 1
    assert adapter.find_order(f"{bracket.client_order_id}:sl") == sl
    assert adapter.positions() == [] and adapter.open_orders() == []


def test_it_counts_a_fill_coinbase_reports_twice_once(sim, adapter):
    sim.faults.add("duplicate_fill")

    placed = adapter.place_order(order())

    assert len(sim.book.fills) == 2 and sim.book.fills[0]["trade_id"] == sim.book.fills[1]["trade_id"]
    assert [f.execution_id for f in placed.fills] == [sim.book.fills[0]["trade_id"]]
    assert sum(f.qty for f in placed.fills) == placed.filled_qty == Decimal("0.01")


# --- account, instruments, fees -------------------------------------------------------------------


def test_it_reads_balances_from_v3_accounts_every_page(sim, adapter):
    sim.accounts_page_limit = 2  # six wallets: three pages
    adapter.place_order(order())

    balance = adapter.balance()

    pages = [r for r in sim.requests if r.path == "/api/v3/brokerage/accounts"]
    assert len(pages) >= 3 and not any(r.path.startswith("/v2/accounts") for r in sim.requests)
    usd = sim.ledger.wallet("USD")
    assert (balance.currency, balance.cash, balance.buying_power) == ("USD", usd.total, usd.available)
    assert balance.equity == usd.total + Decimal("0.01") * sim.price("BTC/USD")


def test_it_values_positions_at_last_prices_with_the_breakdown_entry_price(sim, adapter):
    adapter.place_order(order())
    sim.set_price("BTC/USD", Decimal("61000"))

    [position] = adapter.positions()

    assert (position.symbol, position.qty, position.market_price) == ("BTC/USD", Decimal("0.01"), Decimal("61000"))
    assert position.avg_price == Decimal("60720.01")  # price paid plus the taker fee, per unit
    assert position.unrealized_pnl == (Decimal("61000") - Decimal("60720.01")) * Decimal("0.01")


def test_it_lists_products_with_their_increments(sim, adapter):
    instruments = {i.symbol: i for i in adapter.instruments()}

    sol = instruments["SOL/USD"]
    assert (sol.broker_symbol, sol.tick_size, sol.lot_size, sol.min_qty) == (
        "SOL-USD",
        Decimal("0.001"),
        Decimal("0.0001"),
        Decimal("0.001"),
    )
    assert adapter.instrument(" btc/usd ") == instruments["BTC/USD"]
    assert instruments["BTC/EUR"].currency == "EUR"


def test_it_reads_fees_from_the_transaction_summary(sim, adapter):
    sim.book.maker, sim.book.taker = Decimal("0.0025"), Decimal("0.004")

    fees = adapter.fees()

    assert (fees.maker_pct, fees.taker_pct, fees.currency) == (Decimal("0.25"), Decimal("0.4"), "USD")
    assert any(r.path == "/api/v3/brokerage/transaction_summary" for r in sim.requests)


def test_it_quotes_in_one_batch_with_the_best_bid_and_ask(sim, adapter):
    adapter.instruments()  # products loaded
    sim.requests.clear()

    quotes = adapter.quotes(["BTC/USD", "eth/usd", "XYZ/USD", "AAPL"])

    assert set(quotes) == {"BTC/USD", "ETH/USD"}
    assert (quotes["BTC/USD"].bid, quotes["BTC/USD"].ask, quotes["BTC/USD"].source) == (
        Decimal("59999.99"),
        Decimal("60000.01"),
        "coinbase",
    )
    assert [r.path for r in sim.requests] == [
        "/api/v3/brokerage/market/products",
        "/api/v3/brokerage/best_bid_ask",
    ]


# --- public market data -------------------------------------------------------------------------


def test_the_market_data_source_validates_and_quotes_without_a_key(sim):
    source = CoinbaseMarketData()
    sim.set_price("ETH/USD", Decimal("3150"))

    assert source.validate(" eth/usd ") == "ETH/USD"
    with pytest.raises(InvalidSymbol):
        source.validate("XYZ/USD")
    quotes = source.quotes(["ETH/USD", "BTC/USD", "XYZ/USD"])

    assert set(quotes) == {"ETH/USD", "BTC/USD"}
    assert (quotes["ETH/USD"].price, quotes["ETH/USD"].change, quotes["ETH/USD"].change_pct) == (
        Decimal("3150"),
        Decimal("150.00"),
        Decimal("5.00"),
    )
    assert not any("authorization" in r.headers for r in sim.requests)
    assert len(sim.requests) == 2  # one product list (cached for validation) and one quote batch


def test_the_market_data_source_reports_a_rate_limit(sim):
    sim.faults.add("rate_limit")

    with pytest.raises(RateLimited):
        CoinbaseMarketData().quotes(["BTC/USD"])
