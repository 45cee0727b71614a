"""What the real-broker end-to-end tests share: accounts made through the product's own doors, the
contract suite's harnesses started as context managers, a gateway host and a stand-in for beat.

The simulators are the contract suite's (tests/brokers/contract/harnesses/): a harness starts its
simulator and points the settings at it, which the worker thread of these tests sees too
(settings are process-wide). Gateway brokers are reached through a real `GatewayHost` in a
thread of this process, taking turns at the SQLite test database like the worker does.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from celery import Task
from django.core.management import call_command
from django.test import Client
from django.utils.module_loading import import_string

from accounts.models import User
from brokers.adapters.registry import get_spec
from brokers.gateway.host import GatewayHost
from brokers.models import ConnectionStatus
from brokers.sessions import sessions_close_all
from brokers.tasks import brackets_watch, orders_poll
from tests.brokers.contract.conftest import HARNESSES
from tests.brokers.contract.harness import Harness
from tests.e2e.conftest import GatedAPIClient, UserEvents, celery_worker, db_turn

PASSWORD = "a-long-passphrase-9"
PLAIN_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


# --- clients that take their turn at the database and keep what they were answered ------------


class Transcript(list[bytes]):
    """Every response body a test's clients received, to prove no secret ever left the server."""

    def leaks(self, secrets: list[str]) -> list[str]:
        """The secrets that appear in any body: as a substring when long enough to be unmistakable,
        else as a whole JSON value (a short numeric password would match some price by chance)."""
        found = []
        for secret in secrets:
            if len(secret) >= 10:
                hit = any(secret.encode() in body for body in self)
            else:
                hit = any(secret in _json_strings(body) for body in self)
            if hit:
                found.append(secret[:3] + "…")
        return found


def _json_strings(body: bytes) -> set[str]:
    try:
        document = json.loads(body)
    except ValueError:
        return set()
    values: set[str] = set()
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item is not None:
            values.add(str(item))
    return values


class RecordingAPIClient(GatedAPIClient):
    transcript: Transcript

    def request(self, **kwargs: Any) -> Any:
        response = super().request(**kwargs)
        self.transcript.append(response.content)
        return response


class Browser(Client):
    """A browser's session: Django's test client with CSRF enforced, taking its turn at the database."""

    transcript: Transcript

    def __init__(self) -> None:
        super().__init__(enforce_csrf_checks=True)

    def request(self, **request: Any) -> Any:
        with db_turn():
            response = super().request(**request)
        self.transcript.append(response.content)
        return response

    @property
    def csrf(self) -> str:
        return self.cookies["csrftoken"].value

    def post_json(self, path: str, body: dict[str, Any]) -> Any:
        return self.post(path, json.dumps(body), content_type="application/json", headers={"X-CSRFToken": self.csrf})


@dataclass
class Account:
    user: User
    api: RecordingAPIClient  # `Authorization: Token …`
    browser: Browser  # logged in by the signup
    token: str
    transcript: Transcript = field(default_factory=Transcript)


def premium_account() -> Account:
    """Sign up in the browser (logged in at once), `set_tier … premium`, `create_api_token`."""
    transcript = Transcript()
    browser = Browser()
    browser.transcript = transcript
    email = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
    assert browser.get("/accounts/signup/").status_code == 200  # the form sets the CSRF cookie
    form = {"email": email, "password1": PASSWORD, "password2": PASSWORD, "csrfmiddlewaretoken": browser.csrf}
    signup = browser.post("/accounts/signup/", form)
    assert signup.status_code == 302, signup.content
    out = io.StringIO()
    with db_turn():
        call_command("set_tier", email, "premium", stdout=io.StringIO())
        call_command("create_api_token", email, stdout=out)
        user = User.objects.get(email=email)
    token = out.getvalue().strip().splitlines()[-1]
    api = RecordingAPIClient()
    api.transcript = transcript
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return Account(user=user, api=api, browser=browser, token=token, transcript=transcript)


# --- brokers, gateways, beat ------------------------------------------------------------------


@contextlib.contextmanager
def broker_running(key: str) -> Iterator[Harness]:
    """The contract suite's harness of `key`, started: its simulator up and the settings pointed at it."""
    # An adapter another test left in this process's pool would be reused: pools are keyed by the
    # connection's id and credentials version, and a rolled-back test database hands out ids again.
    sessions_close_all()
    harness = import_string(HARNESSES[key])()
    steps = harness.start()
    next(steps)
    try:
        yield harness
    finally:
        sessions_close_all()  # pooled adapters hold sockets to this simulator
        next(steps, None)


@contextlib.contextmanager
def gateway_running() -> Iterator[GatewayHost]:
    """`python manage.py gateway`'s host, in a thread of this process (so it sees the test database)."""
    host = GatewayHost(db_guard=db_turn)
    thread = threading.Thread(target=host.run, name="e2e-gateway", daemon=True)
    thread.start()
    try:
        yield host
    finally:
        host.stop()
        thread.join(timeout=20)


@contextlib.contextmanager
def beat(*tasks: Task, every: float = 1.0) -> Iterator[None]:
    """What `celery beat` does for `tasks` (config/settings.py CELERY_BEAT_SCHEDULE: every second):
    queue each through the broker, for the worker to run."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            for task in tasks:
                task.delay()

    thread = threading.Thread(target=run, name="e2e-beat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


@contextlib.contextmanager
def trading(key: str) -> Iterator[Harness]:
    """Broker `key` at work: its simulator, the gateway host if it is a gateway broker, a real Celery
    worker and beat's order polls and stop-loss watch.

    Stopped in reverse: the worker first (its last tasks still reach a live gateway and simulator),
    then the gateway host: a call the worker made while the host was stopping would go to it
    through Redis and wait for its answer holding the SQLite turn the host needs.
    """
    with contextlib.ExitStack() as stack:
        harness = stack.enter_context(broker_running(key))
        if get_spec(key).capabilities.session == "gateway":
            stack.enter_context(gateway_running())
        stack.enter_context(celery_worker())
        stack.enter_context(beat(orders_poll, brackets_watch))
        yield harness


# --- the API, as a client uses it -------------------------------------------------------------------


def wizard_fields(key: str, harness: Harness) -> tuple[dict[str, str], list[str]]:
    """What the wizard sends (the registry's fields the harness fills), and which of them are secret."""
    fields = get_spec(key).credential_fields
    sent = {f.name: harness.credentials[f.name] for f in fields if f.name in harness.credentials}
    return sent, [sent[f.name] for f in fields if f.secret and f.name in sent]


def connect_with_keys(account: Account, key: str, harness: Harness, sent: dict[str, str]) -> dict[str, Any]:
    body = {"broker": key, "credentials": sent, "paper": harness.paper}
    tested = account.api.post("/api/brokers/test", body, format="json")
    assert tested.status_code == 200, tested.content
    assert tested.json()["ok"] is True and tested.json()["account"]["paper"] is harness.paper
    assert len(tested.json()["account"]["currency"]) == 3
    configured = account.api.post("/api/brokers/configure", {**body, "label": f"{key} e2e"}, format="json")
    assert configured.status_code == 201, configured.content
    assert configured.json()["status"] == ConnectionStatus.CONNECTED, configured.json()
    return tested.json()["account"]


def orders_list(account: Account, key: str, status: str = "all") -> list[dict[str, Any]]:
    response = account.api.get(f"/api/brokers/user/{key}/orders?status={status}")
    assert response.status_code == 200, response.content
    return response.json()


def order_get(account: Account, order_id: str) -> dict[str, Any]:
    response = account.api.get(f"/api/orders/{order_id}")
    assert response.status_code == 200, response.content
    return response.json()


def order_place(account: Account, key: str, **body: Any) -> dict[str, Any]:
    response = account.api.post(f"/api/brokers/user/{key}/orders", body, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    return response.json()


def assert_executed(events: UserEvents, order: dict[str, Any], key: str, *, timeout: float) -> dict[str, Any]:
    got = events.wait("trade:executed", lambda d: d["order_id"] == order["id"], timeout=timeout)
    assert got.data == {
        "order_id": order["id"],
        "client_order_id": order["client_order_id"],
        "broker": key,
        "symbol": order["symbol"],
        "side": order["side"],
        "qty": order["qty"],
        "price": order["avg_fill_price"],
        "fee": order["fee"],
        "status": "filled",
        "filled_qty": order["qty"],
    }, (got.data, order)
    assert all(PLAIN_DECIMAL.match(got.data[f]) for f in ("qty", "price", "fee", "filled_qty")), got.data
    return got.data


def order_becomes(account: Account, order_id: str, status: str, *, timeout: float) -> dict[str, Any]:
    return eventually(
        lambda: order_get(account, order_id), lambda o: o["status"] == status, timeout=timeout, what=status
    )


def market_buy(account: Account, key: str, harness: Harness, **extra: Any) -> dict[str, Any]:
    return order_place(account, key, symbol=harness.symbol, side="buy", type="market", qty=str(harness.qty), **extra)


def eventually(fetch: Callable[[], Any], ok: Callable[[Any], bool], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not ok(value := fetch()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {value!r}")
        time.sleep(0.1)
    return value
