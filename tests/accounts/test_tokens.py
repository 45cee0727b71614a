from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db

URL = "/api/brokers/user/configured"


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_it_authenticates_with_a_token(user):
    issued = api_token_create(user=user, name="laptop")
    response = _client(issued.key).get("/api/schema/")
    assert response.status_code == 200
    issued.token.refresh_from_db()
    assert issued.token.last_used_at is not None


def test_it_records_use_at_most_once_a_minute(user, django_assert_num_queries):
    issued = api_token_create(user=user)
    client = _client(issued.key)
    assert client.get(URL).status_code == 200
    issued.token.refresh_from_db()
    first_use = issued.token.last_used_at
    assert client.get(URL).status_code == 200  # reads the token once more: the touch dropped it
    with django_assert_num_queries(0):  # no token read, no write
        assert client.get(URL).status_code == 200
    ApiToken.objects.filter(pk=issued.token.pk).update(last_used_at=first_use - timedelta(minutes=2))
    issued.token.save(update_fields=["name"])  # a save drops the cached copy, as any write does
    assert client.get(URL).status_code == 200
    issued.token.refresh_from_db()
    assert issued.token.last_used_at > first_use


def test_it_refuses_a_revoked_token(user, settings):
    issued = api_token_create(user=user)
    api_token_revoke(token=issued.token)
    response = _client(issued.key).get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_it_refuses_an_expired_token(user):
    issued = api_token_create(user=user, expires_in_days=1)
    ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _client(issued.key).get(URL).status_code == 401


def test_it_refuses_an_unknown_or_malformed_token():
    assert _client("tw_not-a-real-key").get(URL).status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token")
    assert client.get(URL).status_code == 401


def test_it_never_stores_the_key_in_clear(user):
    issued = api_token_create(user=user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        rows = cursor.fetchall()
    assert rows
    assert all(issued.key not in str(value) for row in rows for value in row)
    assert issued.token.key_hash != issued.key and len(issued.token.key_hash) == 64
