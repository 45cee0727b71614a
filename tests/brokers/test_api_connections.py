"""/api/brokers/*: the registry, gating, flags, configure/test/delete, balances, isolation."""

import pytest
from rest_framework.test import APIClient

from accounts.services import api_token_create
from brokers.adapters.paper.faults import fault_arm
from brokers.models import BalanceSnapshot, BrokerConnection, Credential

pytestmark = pytest.mark.django_db

KEYS = ["alpaca", "ibkr", "schwab", "moomoo", "kraken", "coinbase", "paper"]
ALPACA = {"api_key_id": "PKTESTKEYID12345", "api_secret_key": "s3cr3t-value-never-shown"}


def _client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user).key}")
    client.user = user
    return client


def test_it_lists_exactly_the_seven_brokers_publicly(api):
    response = api.get("/api/brokers/supported")
    assert response.status_code == 200
    brokers = response.json()
    assert sorted(b["key"] for b in brokers) == sorted(KEYS)
    alpaca = next(b for b in brokers if b["key"] == "alpaca")
    assert alpaca["auth"] == "api_key" and alpaca["premium_required"] is True and alpaca["enabled"] is True
    assert alpaca["rate_limit"] == {"requests": 200, "per_seconds": 60}
    fields = {f["name"]: f for f in alpaca["credential_fields"]}
    assert fields["api_secret_key"]["secret"] is True and fields["api_key_id"]["secret"] is False
    assert all({"name", "label", "secret", "required"} <= set(f) for f in fields.values())
    paper = next(b for b in brokers if b["key"] == "paper")
    assert paper["premium_required"] is False and paper["auth"] == "none"
    assert next(b for b in brokers if b["key"] == "schwab")["auth"] == "oauth"
    assert next(b for b in brokers if b["key"] == "ibkr")["auth"] == "gateway"


def test_it_marks_brokers_outside_the_allow_list_disabled(api, settings):
    settings.ALLOWED_BROKERS = ["kraken", "coinbasepro"]
    enabled = {b["key"]: b["enabled"] for b in api.get("/api/brokers/supported").json()}
    assert enabled["kraken"] and enabled["coinbase"] and enabled["paper"]
    assert not enabled["alpaca"] and not enabled["ibkr"]


def test_a_free_user_connects_the_paper_broker(user, configure):
    client = _client_for(user)
    response = configure(client)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["broker"] == "paper" and body["status"] == "connected" and body["paper"] is True
    assert BalanceSnapshot.objects.filter(connection__user=user).count() == 1


def test_a_free_user_gets_premium_required_before_validation(user):
    client = _client_for(user)
    for path in ("/api/brokers/configure", "/api/brokers/test"):
        for broker in ("alpaca", "ibkr", "schwab", "moomoo", "kraken", "coinbase"):
            response = client.post(path, {"broker": broker}, format="json")
            assert response.status_code == 403, (path, broker)
            assert response.json()["error"]["code"] == "premium_required"
    assert not BrokerConnection.objects.exists()


def test_it_reports_missing_credentials_per_field(token_client):
    response = token_client.post("/api/brokers/test", {"broker": "alpaca", "credentials": {}}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"credentials.api_key_id", "credentials.api_secret_key"}


def test_an_unreachable_broker_is_a_502_and_nothing_is_stored(token_client, configure):
    fault_arm("timeout", match="connect")  # the broker does not answer the authentication call
    response = configure(token_client)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "broker_unavailable"
    assert not BrokerConnection.objects.exists() and not Credential.objects.exists()


def test_integrations_flag_off_is_503_but_paper_stays_open(token_client, settings, configure):
    settings.BROKER_INTEGRATIONS_ENABLED = False
    response = token_client.post("/api/brokers/test", {"broker": "kraken"}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "broker_integrations_disabled"
    assert configure(token_client).status_code == 201


def test_a_broker_outside_the_allow_list_is_403(token_client, settings):
    settings.ALLOWED_BROKERS = ["kraken"]
    response = token_client.post("/api/brokers/test", {"broker": "alpaca"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "broker_not_allowed"


def test_coinbasepro_is_accepted_as_coinbase(token_client, settings):
    settings.ALLOWED_BROKERS = ["coinbasepro"]
    response = token_client.post("/api/brokers/test", {"broker": "coinbasepro", "credentials": {}}, format="json")
    assert response.status_code == 400  # past gating, into validation
    assert set(response.json()["error"]["fields"]) == {"credentials.api_key_name", "credentials.api_private_key"}


def test_it_tests_the_paper_broker_without_storing(token_client):
    response = token_client.post("/api/brokers/test", {"broker": "paper", "paper": True}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "account": {"id": f"paper-{token_client.user.pk}", "currency": "USD", "paper": True},
    }
    assert not BrokerConnection.objects.exists()


def test_it_refuses_a_second_configure_with_409(paper_client, configure):
    response = configure(paper_client)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_configured"


def test_it_lists_configured_brokers_without_secrets(paper_client):
    response = paper_client.get("/api/brokers/user/configured")
    assert response.status_code == 200
    [row] = response.json()
    assert {"broker", "label", "paper", "status", "last_error", "last_checked_at", "credential_hint"} <= set(row)
    assert row["broker"] == "paper" and row["status"] == "connected"


def test_it_serves_the_balance_from_the_snapshot_and_refreshes_on_request(paper_client):
    response = paper_client.get("/api/brokers/user/paper/balance")
    assert response.status_code == 200
    body = response.json()
    assert body["broker"] == "paper" and body["currency"] == "USD" and body["stale"] is False
    assert body["cash"] == "100000" and body["equity"] == "100000"
    before = BalanceSnapshot.objects.count()
    assert paper_client.get("/api/brokers/user/paper/balance").status_code == 200
    assert BalanceSnapshot.objects.count() == before  # cached read never calls the broker
    assert paper_client.get("/api/brokers/user/paper/balance?refresh=1").status_code == 200
    assert BalanceSnapshot.objects.count() == before + 1


def test_cached_reads_follow_every_change_to_the_snapshot_and_the_connection(paper_client):
    from brokers.services.connections import connection_health_mark

    first = paper_client.get("/api/brokers/user/paper/balance").json()
    assert paper_client.get("/api/brokers/user/configured").json()[0]["status"] == "connected"
    refreshed = paper_client.get("/api/brokers/user/paper/balance?refresh=1").json()
    assert refreshed["as_of"] != first["as_of"]
    assert paper_client.get("/api/brokers/user/paper/balance").json()["as_of"] == refreshed["as_of"]

    connection_health_mark(BrokerConnection.objects.get(user=paper_client.user), error="gateway down")
    [row] = paper_client.get("/api/brokers/user/configured").json()
    assert (row["status"], row["last_error"]) == ("error", "gateway down")

    assert paper_client.delete("/api/brokers/user/paper").status_code == 204
    assert paper_client.get("/api/brokers/user/configured").json() == []
    assert paper_client.get("/api/brokers/user/paper/balance").status_code == 404


def test_a_snapshot_older_than_two_polls_is_stale(paper_client, settings):
    from datetime import timedelta

    from django.utils import timezone

    BalanceSnapshot.objects.update(as_of=timezone.now() - timedelta(seconds=settings.BALANCE_POLL_SECONDS * 2 + 5))
    assert paper_client.get("/api/brokers/user/paper/balance").json()["stale"] is True


def test_a_cached_balance_turns_stale_on_time_without_a_write(paper_client, settings):
    import time
    from datetime import timedelta

    from django.utils import timezone

    # Fresh for two more seconds: the first read caches it, the second comes after that.
    age = timedelta(seconds=settings.BALANCE_POLL_SECONDS * 2 - 2)
    BalanceSnapshot.objects.update(as_of=timezone.now() - age)  # an update sends no signal
    before = BalanceSnapshot.objects.count()
    first = paper_client.get("/api/brokers/user/paper/balance")
    assert first.json()["stale"] is False and first["Content-Type"] == "application/json"
    time.sleep(2.5)
    second = paper_client.get("/api/brokers/user/paper/balance").json()
    assert second == {**first.json(), "stale": True}
    assert BalanceSnapshot.objects.count() == before


def test_another_users_connection_is_a_404(paper_client, make_user):
    other = _client_for(make_user())
    for path in ("/api/brokers/user/paper/balance", "/api/brokers/user/paper/positions"):
        response = other.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert other.delete("/api/brokers/user/paper").status_code == 404
    assert BrokerConnection.objects.filter(user=paper_client.user).exists()


def test_an_unknown_broker_key_is_a_404(token_client):
    assert token_client.get("/api/brokers/user/robinhood/balance").status_code == 404
    assert token_client.post("/api/brokers/test", {"broker": "robinhood"}, format="json").status_code == 404


def test_disconnect_destroys_the_credentials(token_client, settings):
    from brokers.vault import credentials_store

    connection = BrokerConnection.objects.create(user=token_client.user, broker="alpaca", paper=True)
    credentials_store(connection=connection, values=ALPACA)
    assert Credential.objects.filter(connection=connection).count() == 2
    response = token_client.delete("/api/brokers/user/alpaca")
    assert response.status_code == 204
    assert not Credential.objects.exists() and not BrokerConnection.objects.exists()


def test_it_refuses_a_non_object_body(token_client):
    response = token_client.post("/api/brokers/test", [1, 2], format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"
