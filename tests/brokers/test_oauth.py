"""Schwab's OAuth authorisation-code flow inside the web app, against the Schwab simulator.

The round trip: `oauth_authorize_url` (a `state` bound to the connection in the user's session),
the simulator's authorise redirect, our callback page, the code exchange, the token in the vault.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.contrib.sessions.backends.db import SessionStore

from brokers.adapters.base import AdapterContext, AuthenticationFailed
from brokers.adapters.schwab.adapter import SchwabAdapter
from brokers.adapters.schwab.auth import token_wrap
from brokers.models import BrokerConnection, ConnectionStatus
from brokers.services.oauth import (
    SESSION_KEY,
    oauth_authorize_url,
    oauth_complete,
    oauth_refresh_expiring,
    token_expires_at,
)
from brokers.vault import credentials_load, credentials_store
from config.domain import InvalidInput
from tests.brokers.contract.harness import Harness
from tests.brokers.contract.harnesses.schwab import SchwabHarness, follow_authorize
from tests.simulators.base import running
from tests.simulators.schwab import SchwabSimulator

CALLBACK = "http://testserver/brokers/oauth/callback"


@pytest.fixture
def sim(settings):
    with running(SchwabSimulator()) as sim:
        settings.SCHWAB_API_URL = sim.url
        yield sim


def schwab_connection(user, sim, **fields) -> BrokerConnection:
    """A Schwab connection as `connection_configure` leaves it: app key and secret stored, not authorised."""
    status = fields.pop("status", ConnectionStatus.PENDING_AUTHORIZATION)
    connection = BrokerConnection.objects.create(user=user, broker="schwab", label="Schwab", status=status)
    credentials_store(connection=connection, values={"app_key": sim.app_key, "app_secret": sim.app_secret, **fields})
    return connection


@pytest.fixture
def pending(user, sim) -> BrokerConnection:
    return schwab_connection(user, sim)


def token_requests(sim: SchwabSimulator) -> list:
    return [r for r in sim.requests if r.path == "/v1/oauth/token"]


def test_it_builds_the_authorise_url_with_a_state_bound_to_the_connection(pending, sim):
    session = SessionStore()

    url = httpx.URL(oauth_authorize_url(session=session, connection=pending, callback_url=CALLBACK))

    assert str(url).startswith(f"{sim.url}/v1/oauth/authorize?")
    assert url.params["client_id"] == sim.app_key and url.params["redirect_uri"] == CALLBACK
    assert session[SESSION_KEY] == {url.params["state"]: pending.pk}
    assert len(url.params["state"]) >= 32


@pytest.mark.parametrize("state", ["forged-state", ""])
def test_it_refuses_a_mismatched_or_missing_state_and_changes_nothing(pending, sim, user, state):
    session = SessionStore()
    url = oauth_authorize_url(session=session, connection=pending, callback_url=CALLBACK)
    code = follow_authorize(url)["code"]  # a good code, arriving with the wrong state
    remembered = dict(session[SESSION_KEY])

    with pytest.raises(InvalidInput, match="does not match a sign-in started from your session"):
        oauth_complete(session=session, user=user, state=state, code=code, callback_url=CALLBACK)

    pending.refresh_from_db()
    assert pending.status == ConnectionStatus.PENDING_AUTHORIZATION
    assert "token" not in credentials_load(connection=pending)
    assert token_requests(sim) == []  # the code was never exchanged
    assert session[SESSION_KEY] == remembered


def test_it_completes_the_round_trip_through_the_callback_view(client, pending, sim, user):
    client.force_login(user)
    session = client.session
    url = oauth_authorize_url(session=session, connection=pending, callback_url=CALLBACK)
    session.save()

    redirect = httpx.get(url, follow_redirects=False).headers["Location"]  # the user approves at Schwab
    assert redirect.startswith(f"{CALLBACK}?code=")
    response = client.get(redirect)

    assert response.status_code == 302 and response.url == "/brokers/"
    assert "Charles Schwab is connected." in client.get(response.url).content.decode()
    pending.refresh_from_db()
    assert pending.status == ConnectionStatus.CONNECTED
    assert pending.account_id == sim.account.hash_value
    stored = json.loads(credentials_load(connection=pending)["token"])
    assert stored["token"]["refresh_token"] in sim.oauth.state.refresh
    assert abs(pending.auth_expires_at - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
    assert client.session.get(SESSION_KEY) == {}  # the state is spent
    (exchange,) = token_requests(sim)
    assert exchange.headers["authorization"].startswith("Basic ")


def test_it_renders_a_clear_error_for_a_state_this_session_did_not_start(client, pending, sim, user):
    client.force_login(user)

    response = client.get("/brokers/oauth/callback", {"code": "C0.abc@", "state": "someone-elses"})

    assert response.status_code == 400
    assert "does not match a sign-in started from your session" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == ConnectionStatus.PENDING_AUTHORIZATION and token_requests(sim) == []


def test_it_renders_a_clear_error_when_schwab_refuses_the_code(client, pending, sim, user):
    client.force_login(user)
    session = client.session
    state = httpx.URL(oauth_authorize_url(session=session, connection=pending, callback_url=CALLBACK)).params["state"]
    session.save()

    response = client.get("/brokers/oauth/callback", {"code": "C0.never-issued@", "state": state})

    assert response.status_code == 400
    assert "Schwab refused the authorisation" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == ConnectionStatus.PENDING_AUTHORIZATION
    assert "token" not in credentials_load(connection=pending)


def test_it_shows_a_denied_authorisation(client, user):
    client.force_login(user)

    response = client.get("/brokers/oauth/callback", {"error": "access_denied"})

    assert response.status_code == 400 and "did not authorise Tradewire" in response.content.decode()


def test_it_requires_a_login_for_the_callback(client, db):
    response = client.get("/brokers/oauth/callback", {"code": "x", "state": "y"})

    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_it_tells_when_the_authorisation_ends_and_asks_again_near_the_end(make_user, sim):
    now = time.time()
    old_token = token_wrap({"access_token": "a", "refresh_token": "r"}, created=int(now - 6.5 * 24 * 3600))
    fresh_token = token_wrap({"access_token": "b", "refresh_token": "s"}, created=int(now))
    ending = schwab_connection(make_user(), sim, token=old_token, status=ConnectionStatus.CONNECTED)
    fresh = schwab_connection(make_user(), sim, token=fresh_token, status=ConnectionStatus.CONNECTED)

    assert token_expires_at(ending) == datetime.fromtimestamp(int(now - 6.5 * 24 * 3600), tz=UTC) + timedelta(days=7)
    assert oauth_refresh_expiring(within=timedelta(days=1)) == [ending.pk]

    ending.refresh_from_db()
    fresh.refresh_from_db()
    assert ending.status == ConnectionStatus.PENDING_AUTHORIZATION
    assert "authorise again from the brokers page" in ending.last_error
    assert fresh.status == ConnectionStatus.CONNECTED
    assert fresh.auth_expires_at == token_expires_at(fresh)


def test_the_contract_harness_authorises_a_configured_connection(make_user):
    harness = SchwabHarness()
    assert isinstance(harness, Harness)
    fixture = harness.start()
    next(fixture)
    try:
        connection = schwab_connection(make_user(), harness.sim)
        harness.authorize(connection)
        connection.refresh_from_db()
        assert connection.status == ConnectionStatus.CONNECTED
        context = AdapterContext(user_id=connection.user_id)
        assert SchwabAdapter(harness.credentials, paper=False, context=context).connect().id == connection.account_id
        with pytest.raises(AuthenticationFailed):
            SchwabAdapter(harness.bad_credentials, paper=False, context=context).connect()
    finally:
        next(fixture, None)
