"""Fixtures of the contract suite: every registry broker, each behind its harness, through our services.

Each test gets a started harness and a connection stored the way the product stores one (through
the vault, tested against the broker). Gateway brokers are reached through a real gateway host
running in this process (brokers/gateway/host.py), so their pushes arrive on its threads; the test
thread takes turns with them at the SQLite test database (tests/dbturn.py).
Celery is not eager here: a test drives each step itself (`submit`, `deliver_updates`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal

import pytest
from django.db import connection as db_connection
from django.utils.module_loading import import_string

from accounts.models import Tier
from brokers.adapters.base import BrokerUnavailable, OrderStatus
from brokers.adapters.registry import BROKERS, BrokerSpec, get_spec
from brokers.gateway.host import GatewayHost
from brokers.models import BrokerConnection, Order
from brokers.services.connections import connection_configure
from brokers.services.instruments import instrument_get
from brokers.services.orders import connection_orders_poll, order_place, order_request_build, order_submit
from brokers.sessions import sessions_close_all
from tests.dbturn import DB_TURN, db_turn

HARNESSES = {
    "paper": "tests.brokers.contract.harnesses.paper.PaperHarness",
    "alpaca": "tests.brokers.contract.harnesses.alpaca.AlpacaHarness",
    "kraken": "tests.brokers.contract.harnesses.kraken.KrakenHarness",
    "coinbase": "tests.brokers.contract.harnesses.coinbase.CoinbaseHarness",
    "ibkr": "tests.brokers.contract.harnesses.ibkr.IbkrHarness",
    "moomoo": "tests.brokers.contract.harnesses.moomoo.MoomooHarness",
    "schwab": "tests.brokers.contract.harnesses.schwab.SchwabHarness",
}
# The paper broker told to use the shared bracket emulation and to be polled, so both are proven here.
VARIANTS = {"paper-emulated-polled": ("paper", {"bracket": "emulated", "order_updates": "poll"})}
PUSH_WAIT_SECONDS = 5.0


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every broker and variant, or those a test's `brokers_where(predicate over the spec)` mark keeps."""
    if "broker_key" in metafunc.fixturenames:
        where = metafunc.definition.get_closest_marker("brokers_where")
        keys = [key for key in [*BROKERS, *VARIANTS] if where is None or where.args[0](_told(key))]
        metafunc.parametrize("broker_key", keys)


def _told(key: str) -> BrokerSpec:
    """The registry's spec of a broker, or of a variant with its capabilities overridden."""
    if key not in VARIANTS:
        return get_spec(key)
    base, overrides = VARIANTS[key]
    return replace(get_spec(base), capabilities=replace(get_spec(base).capabilities, **overrides))


@pytest.fixture(autouse=True)
def _not_eager():
    from config.celery import app

    app.conf.task_always_eager = False


@pytest.fixture
def spec(broker_key: str, monkeypatch: pytest.MonkeyPatch) -> BrokerSpec:
    told = _told(broker_key)
    if broker_key in VARIANTS:
        monkeypatch.setitem(BROKERS, told.key, told)
    return told


@pytest.fixture
def harness(spec: BrokerSpec, transactional_db) -> Iterator[object]:
    running = import_string(HARNESSES[spec.key])()
    steps = running.start()
    next(steps)
    try:
        yield running
    finally:
        sessions_close_all()  # pooled adapters hold sockets to this harness's simulator
        next(steps, None)


@pytest.fixture
def gateway(spec: BrokerSpec, harness: object) -> Iterator[GatewayHost | None]:
    """A gateway host in this process for gateway brokers (their calls then run in the caller's thread)."""
    if spec.capabilities.session != "gateway":
        yield None
        return
    host = GatewayHost(db_guard=db_turn)
    thread = threading.Thread(target=host.run, name="contract-gateway", daemon=True)
    thread.start()
    try:
        yield host
    finally:
        host.stop()
        thread.join(timeout=20)


@pytest.fixture
def turn(gateway: GatewayHost | None) -> Iterator[None]:
    """The test thread's turn at the database (released while it waits for the gateway's pushes)."""
    if db_connection.vendor != "sqlite":
        yield
        return
    with DB_TURN:
        yield


@pytest.fixture
def owner(make_user):
    return make_user(Tier.PREMIUM)


@pytest.fixture
def connection(spec: BrokerSpec, harness, gateway, turn, owner) -> BrokerConnection:
    """A connection stored as the wizard stores it (OAuth brokers authorised through the web app's flow)."""
    configured = connection_configure(
        user=owner, spec=spec, credentials=harness.credentials, paper=harness.paper, label="contract"
    )
    if spec.auth == "oauth":
        harness.authorize(configured)
    configured.refresh_from_db()
    return configured


def place(connection: BrokerConnection, *, client_order_id: str | None = None, **values) -> Order:
    """Store an order through the order service and submit it (as the worker would)."""
    request = order_request_build(broker=connection.broker, client_order_id=client_order_id, **values)
    order, _ = order_place(user=connection.user, connection=connection, request=request)
    submit(order)
    order.refresh_from_db()
    return order


def submit(order: Order) -> None:
    order_submit(order_id=str(order.pk))


def deliver_updates(connection: BrokerConnection, order: Order, *, until: set[OrderStatus]) -> Order:
    """Let the broker's changes reach our order the way its capability says they do; the order after."""
    capabilities = get_spec(connection.broker).capabilities
    if capabilities.order_updates == "poll":
        connection_orders_poll(connection_id=connection.pk)
    elif capabilities.session != "gateway":
        from brokers.tasks import paper_match  # the paper broker's stream

        paper_match()
    else:
        _wait_for_push(order, until)
    order.refresh_from_db()
    return order


def _wait_for_push(order: Order, until: set[OrderStatus]) -> None:
    deadline = time.monotonic() + PUSH_WAIT_SECONDS
    held = db_connection.vendor == "sqlite"
    while time.monotonic() < deadline:
        if held:
            DB_TURN.release()  # let the gateway's push thread write
        time.sleep(0.05)
        if held:
            DB_TURN.acquire()
        order.refresh_from_db()
        if order.status in until:
            return


def eventually(call, *, seconds: float = 8.0):
    """`call()`, again while the broker is still unavailable (a gateway backs off a second after a failure)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except BrokerUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def away_from(connection: BrokerConnection, symbol: str, price: Decimal, fraction: str) -> Decimal:
    """`price` moved by `fraction` (e.g. "-0.2"), on the instrument's tick."""
    tick = instrument_get(connection=connection, symbol=symbol).tick_size
    return (price * (1 + Decimal(fraction)) / tick).to_integral_value(ROUND_FLOOR) * tick
