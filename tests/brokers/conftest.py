from __future__ import annotations

import pytest

from brokers.models import BrokerConnection


@pytest.fixture(autouse=True)
def _eager_celery(settings):
    """Unit tests run tasks in-process; end-to-end tests start a real worker instead."""
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def configure(django_capture_on_commit_callbacks):
    """Configure a broker for a client through the API, running on-commit work."""

    def run(client, broker: str = "paper", credentials: dict | None = None, paper: bool = True):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/api/brokers/configure",
                {"broker": broker, "credentials": credentials or {}, "paper": paper},
                format="json",
            )

    return run


@pytest.fixture
def paper_client(token_client, configure) -> object:
    response = configure(token_client)
    assert response.status_code == 201, response.content
    token_client.connection = BrokerConnection.objects.get(user=token_client.user, broker="paper")
    return token_client
