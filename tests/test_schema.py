"""The API against its own OpenAPI document: schemathesis fuzzes every operation of /api/schema/.

Requests go in-process through `config.wsgi.application` (werkzeug's test client), so they share
pytest-django's test transaction: the user, token and paper connection made by the fixture are
visible, and everything the run writes (orders, watchlist items) is rolled back afterwards.
Every request carries a real API token of a premium user with the paper broker configured
through the API, with Celery eager and on-commit work executed, as in tests/brokers/.

Checks on every response: no 5xx (save a 502 naming a real broker it cannot reach: the fuzzer
may test or configure IB at a local port where no gateway listens), a documented status and
content type, the body valid against the documented schema of its status, and any 4xx/5xx in
the one error body of CONTRACT.md.
`test_it_documents_*` below pin what the document must declare: the token scheme, the error
responses (config/schema.py) and the portfolio body.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import config.wsgi
from accounts.models import Tier
from accounts.services import api_token_create

# Loaded once at collection: the schema view needs no database (public, no session).
schema = schemathesis.openapi.from_wsgi("/api/schema/", config.wsgi.application)

# DRF's answers to a wrong method or body type, which the document declares for no operation
# (schemathesis sends both on purpose); they must still carry the contract's error body.
UNDOCUMENTED_STATUSES = {405, 415}

# Values that reach real rows, mixed into generated ones so the 2xx paths get fuzzed too
# (a random `broker` or `order_id` is only ever a 404). The fixture fills in the live order id.
# Only `paper` is configured: another real broker would reach out to the network.
KNOWN_PATH_VALUES: dict[str, list[str]] = {
    "broker": ["paper", "coinbasepro"],
    "order_id": [],
    "symbol": ["AAPL", "BTC/USD"],
}
KNOWN_SYMBOLS = ["AAPL", "BTC/USD", "btc/usd"]
# Valid bodies, as examples: the examples and coverage phases build their cases from the
# document alone (hooks do not reach them), and without these never get past a 400/404.
EXAMPLE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/brokers/test"): {"broker": "paper", "credentials": {}, "paper": True},
    ("post", "/api/brokers/configure"): {"broker": "paper", "credentials": {}, "paper": True, "label": "Paper"},
    ("post", "/api/brokers/user/{broker}/orders"): {
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "qty": "2",
        "limit_price": "150",
        "time_in_force": "gtc",
        "client_order_id": "schema-example-1",
    },
    ("post", "/api/watchlist"): {"symbol": "BTC/USD"},
}
# Fuzzed order bodies also get this: a well-formed market order keeping the generated side,
# time in force and client order id.
MARKET_ORDER = {"symbol": "AAPL", "type": "market", "qty": "1", "limit_price": None, "stop_price": None}


@schema.hook
def before_process_path(context: Any, path: str, methods: dict[str, Any]) -> None:
    """Add examples (never constraints) to the loaded document: path values and valid bodies."""
    for method, operation in methods.items():
        if not isinstance(operation, dict):
            continue
        for parameter in operation.get("parameters", []):
            known = KNOWN_PATH_VALUES.get(parameter.get("name"))
            if parameter.get("in") == "path" and known:
                parameter.setdefault("example", known[0])
        body = EXAMPLE_BODIES.get((method, path))
        if body is not None:
            operation["requestBody"]["content"]["application/json"].setdefault("example", body)


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> st.SearchStrategy:
    if not path_parameters:
        return st.just(path_parameters)
    choices = [path_parameters]
    for name in path_parameters:
        choices += [{**path_parameters, name: value} for value in KNOWN_PATH_VALUES.get(name, ())]
    return st.sampled_from(choices)


@schema.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy:
    if not isinstance(body, dict):
        return st.just(body)
    choices = [body]
    if "broker" in body:
        choices.append({**body, "broker": "paper"})
    if "symbol" in body:
        choices += [{**body, "symbol": symbol} for symbol in KNOWN_SYMBOLS]
    if "side" in body:
        choices += [{**body, **MARKET_ORDER, "take_profit": None, "stop_loss": None}] * 2
    return st.sampled_from(choices)


def contract_error_body(ctx: Any, response: Any, case: Any) -> None:
    """A 4xx/5xx carries {"error": {"code", "message", "fields"}} (CONTRACT.md, "Errors")."""
    if response.status_code < 400:
        return
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict), f"{response.status_code} without the contract error body: {body!r}"
    assert isinstance(error.get("code"), str), f"error.code is not a string: {body!r}"
    assert isinstance(error.get("message"), str), f"error.message is not a string: {body!r}"
    assert isinstance(error.get("fields"), dict), f"error.fields is not an object: {body!r}"


def status_documented(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every status must be documented, except 405/415 (see UNDOCUMENTED_STATUSES)."""
    if response.status_code in UNDOCUMENTED_STATUSES:
        return None
    return status_code_conformance(ctx, response, case)


# What CONTRACT.md answers when a broker cannot be reached or refuses the credentials: no internet
# here, and no IB Gateway/OpenD listening, so a fuzzed real broker ends there by design.
UNREACHABLE_BROKER_CODES = {"broker_unavailable", "broker_auth_failed"}


def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, except the contract's 502 for a real broker this machine cannot reach."""
    if response.status_code == 502 and response.json()["error"]["code"] in UNREACHABLE_BROKER_CODES:
        return None
    return not_a_server_error(ctx, response, case)


@contextlib.contextmanager
def _test_connection_kept() -> Iterator[None]:
    """Requests must not close the connection that holds the test transaction (PostgreSQL).

    werkzeug's client calls the real WSGI handler, whose request signals run
    `close_old_connections`; Django's own test client disconnects it the same way.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


CHECKS = [no_server_error, status_documented, content_type_conformance, response_schema_conformance]


@pytest.fixture
def token_header(make_user, django_capture_on_commit_callbacks, _eager_celery):
    """A premium user with the paper broker configured, one filled order and AAPL on the watchlist."""
    from rest_framework.test import APIClient

    user = make_user(Tier.PREMIUM)
    header = f"Token {api_token_create(user=user, name='schemathesis').key}"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    with django_capture_on_commit_callbacks(execute=True):
        configured = client.post("/api/brokers/configure", {"broker": "paper", "paper": True}, format="json")
        order = client.post(
            "/api/brokers/user/paper/orders",
            {"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"},
            format="json",
        )
        added = client.post("/api/watchlist", {"symbol": "AAPL"}, format="json")
    assert (configured.status_code, order.status_code, added.status_code) == (201, 202, 201)
    KNOWN_PATH_VALUES["order_id"] = [order.json()["id"]]
    yield {"Authorization": header}
    KNOWN_PATH_VALUES["order_id"] = []


@pytest.fixture
def _eager_celery():
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_always_eager = False


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_it_conforms_to_its_openapi_schema(case, token_header, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), _test_connection_kept():
        case.call_and_validate(headers=token_header, checks=CHECKS, additional_checks=[contract_error_body])


# --- What the document must declare -------------------------------------------------------------


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    methods = {"get", "post", "put", "patch", "delete"}
    return [
        (method, path, operation)
        for path, item in schema.raw_schema["paths"].items()
        for method, operation in item.items()
        if method in methods
    ]


def test_it_documents_the_token_header_scheme():
    schemes = schema.raw_schema.get("components", {}).get("securitySchemes", {})
    assert any(
        s.get("type") == "apiKey" and s.get("in") == "header" and s.get("name") == "Authorization"
        for s in schemes.values()
    )


def test_it_documents_the_portfolio_body():
    response = schema.raw_schema["paths"]["/api/portfolio"]["get"]["responses"]["200"]
    assert "schema" in response.get("content", {}).get("application/json", {})


def test_it_documents_the_error_responses():
    """Authenticated operations document 401, those with a path parameter 404, those with a body 400."""
    missing = []
    for method, path, operation in _operations():
        expected = {"401"} if operation.get("security") != [{}] else set()
        expected |= {"404"} if "{" in path else set()
        expected |= {"400"} if "requestBody" in operation else set()
        missing += [f"{method.upper()} {path} {code}" for code in sorted(expected - set(operation["responses"]))]
    assert not missing
