"""The account page: tier, upgrade path, and API tokens created and revoked through its forms."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, Tier, hash_token_key
from accounts.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db

URL = "/account/"
NEW_KEY = re.compile(r'data-testid="new-token">([^<]+)<')


@pytest.fixture
def browser(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.user = user
    return client


def _csrf(client: Client, path: str = URL) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(path).content.decode())
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def _create(client: Client, **data: str):
    return client.post(URL, {"csrfmiddlewaretoken": _csrf(client), **data})


def _api(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def test_it_requires_login():
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/account/")


def test_it_shows_a_free_user_the_tier_and_how_to_get_premium(browser):
    body = browser.get(URL).content.decode()
    assert re.search(r'data-testid="tier" data-tier="free">Free<', body)
    assert "Ask your Tradewire operator to upgrade your account" in body
    assert "Alpaca" in body and "Paper broker" not in body  # paper is open to every tier


def test_it_shows_no_upgrade_path_to_a_premium_user(make_user):
    client = Client()
    client.force_login(make_user(Tier.PREMIUM))
    body = client.get(URL).content.decode()
    assert re.search(r'data-testid="tier" data-tier="premium">Premium<', body)
    assert "Ask your Tradewire operator" not in body


def test_it_shows_a_new_key_once_and_stores_only_its_hash(browser):
    response = _create(browser, name="laptop script", expires_in_days="30")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    key = NEW_KEY.search(body).group(1)
    assert "will not be shown again" in body

    token = ApiToken.objects.get(user=browser.user)
    assert token.name == "laptop script"
    assert token.key_hash == hash_token_key(key)
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        assert all(key not in str(value) for row in cursor.fetchall() for value in row)

    again = browser.get(URL).content.decode()
    assert key not in again
    assert 'data-testid="new-token"' not in again
    assert f'data-token-id="{token.pk}" data-status="active"' in again
    assert key not in str(dict(browser.session))


def test_it_creates_a_key_that_authenticates_the_api(browser):
    key = NEW_KEY.search(_create(browser, name="script").content.decode()).group(1)
    response = _api(key).get("/api/portfolio")
    assert response.status_code == 200, response.content
    assert "total_value" in response.json()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "expires_in_days": "7"}, "token-name", "This field is required."),
        ({"name": "x" * 101, "expires_in_days": ""}, "token-name", "at most 100 characters"),
        ({"name": "keep me", "expires_in_days": "0"}, "token-expires_in_days", "greater than or equal to 1"),
        ({"name": "keep me", "expires_in_days": "3651"}, "token-expires_in_days", "less than or equal to 3650"),
    ],
)
def test_it_shows_field_errors_next_to_the_field_and_keeps_what_was_typed(browser, data, field, message):
    response = _create(browser, **data)
    assert response.status_code == 200
    body = response.content.decode()
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', body)
    assert error and message in error.group(1)
    field_input = re.search(rf'<input [^>]*id="{field}"[^>]*>', body).group(0)
    assert 'aria-invalid="true"' in field_input
    assert f"{field}-error" in field_input
    for name, value in data.items():
        typed = re.search(rf'<input [^>]*name="{name}"[^>]*>', body).group(0)
        assert (f'value="{value}"' in typed) if value else "value=" not in typed
    assert not ApiToken.objects.exists()
    assert 'data-testid="new-token"' not in body


def test_it_refuses_a_create_without_csrf(browser):
    response = browser.post(URL, {"name": "forged"})
    assert response.status_code == 403
    assert not ApiToken.objects.exists()


def test_it_lists_tokens_with_their_status(browser):
    active = api_token_create(user=browser.user, name="active one").token
    expired = api_token_create(user=browser.user, name="old one", expires_in_days=1).token
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    revoked = api_token_create(user=browser.user, name="gone").token
    api_token_revoke(token=revoked)

    body = browser.get(URL).content.decode()
    assert f'data-token-id="{active.pk}" data-status="active"' in body
    assert f'data-token-id="{expired.pk}" data-status="expired"' in body
    assert f'data-token-id="{revoked.pk}" data-status="revoked"' in body
    assert body.count(">Revoke</button>") == 1  # only the active token can be revoked


def test_it_revokes_a_token_after_confirmation_and_the_key_stops_working(browser, django_capture_on_commit_callbacks):
    issued = api_token_create(user=browser.user, name="ci")
    assert _api(issued.key).get("/api/portfolio").status_code == 200
    path = f"/account/tokens/{issued.token.pk}/revoke/"

    confirm = browser.get(path)
    assert confirm.status_code == 200 and "Yes, revoke" in confirm.content.decode()
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is None  # asking is not revoking

    with django_capture_on_commit_callbacks(execute=True):  # the request's commit, as in production
        response = browser.post(path, {"csrfmiddlewaretoken": _csrf(browser, path)})
    assert response.status_code == 302 and response["Location"] == URL
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is not None
    page = browser.get(URL).content.decode()
    assert "Token “ci” revoked" in page
    assert f'data-token-id="{issued.token.pk}" data-status="revoked"' in page
    assert _api(issued.key).get("/api/portfolio").status_code == 401


def test_it_answers_404_for_another_users_token_and_changes_nothing(browser, make_user):
    theirs = api_token_create(user=make_user(), name="theirs")
    path = f"/account/tokens/{theirs.token.pk}/revoke/"
    assert browser.get(path).status_code == 404
    assert browser.post(path, {"csrfmiddlewaretoken": _csrf(browser)}).status_code == 404
    theirs.token.refresh_from_db()
    assert theirs.token.revoked_at is None
    assert _api(theirs.key).get("/api/portfolio").status_code == 200
