"""Bots through their doors: the API with a real token, the webhook with Django's test client.

Celery runs eagerly and on-commit work is executed, so a webhook POST records the signal,
decides it, places its orders and fills them on the paper broker before the helper returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Tier
from accounts.services import api_token_create
from bots.models import Bot, Signal
from brokers.adapters.paper.market import pin_price

PAPER_TARGET = [{"broker": "paper", "multiplier": "1"}]


@pytest.fixture(autouse=True)
def _eager_celery():
    """Unit tests run tasks in-process; the end-to-end test starts a real worker instead."""
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run `call()` and then everything it queued on commit (submissions, fills, events)."""

    def run(call: Callable[[], Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    return run


@pytest.fixture
def make_trader(make_user, run_on_commit):
    """A user with an API token (an APIClient) and, unless told otherwise, the paper broker connected."""

    def make(tier: str = Tier.PREMIUM, *, paper: bool = True) -> APIClient:
        user = make_user(tier)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='t').key}")
        client.user = user
        if paper:
            response = run_on_commit(
                lambda: client.post("/api/brokers/configure", {"broker": "paper", "paper": True}, format="json")
            )
            assert response.status_code == 201, response.content
        return client

    return make


@pytest.fixture
def trader(make_trader) -> APIClient:
    return make_trader()


@dataclass
class MadeBot:
    id: str
    token: str | None
    body: dict[str, Any]

    @property
    def row(self) -> Bot:
        return Bot.objects.get(pk=self.id)


BOT_DEFAULTS: dict[str, Any] = {
    "name": "Trend",
    "state": "paper",
    "targets": PAPER_TARGET,
    "sizing": {"mode": "fixed", "value": "2"},
    "direction": "long",
}


@pytest.fixture
def make_bot(run_on_commit):
    """Create a bot through the API (defaults: paper, the paper target, 2 units, long only)."""

    def make(client: APIClient, **fields: Any) -> MadeBot:
        response = run_on_commit(lambda: client.post("/api/bots", {**BOT_DEFAULTS, **fields}, format="json"))
        assert response.status_code == 201, response.content
        body = response.json()
        url = body.get("webhook_url")
        return MadeBot(id=body["id"], token=url.rsplit("/", 1)[-1] if url else None, body=body)

    return make


@pytest.fixture
def hook(run_on_commit):
    """POST a webhook body (a dict is sent as JSON) with no session and no token; on-commit work runs."""

    def post(token: str, body: Any, content_type: str = "application/json", **extra: Any) -> Any:
        import json

        data = body if isinstance(body, str | bytes) else json.dumps(body)
        client = Client(enforce_csrf_checks=True)
        return run_on_commit(lambda: client.post(f"/hooks/bots/{token}", data, content_type=content_type, **extra))

    return post


def signal_of(response: Any) -> Signal:
    return Signal.objects.get(pk=response.json()["signal_id"])


@pytest.fixture
def aapl_at():
    """Pin AAPL (and others) at a price for the test: `aapl_at("200")`; the paper market's spread stays."""

    def pin(price: str, symbol: str = "AAPL") -> None:
        pin_price(symbol, Decimal(price))

    return pin
