"""Signup, login and logout through allauth's own pages, with CSRF enforced."""

import re

import pytest
from django.test import Client

from accounts.models import Tier, User

pytestmark = pytest.mark.django_db


def _csrf(client: Client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def test_it_signs_up_logs_out_and_logs_back_in():
    client = Client(enforce_csrf_checks=True)
    token = _csrf(client, "/accounts/signup/")
    response = client.post(
        "/accounts/signup/",
        {
            "email": "New@Example.com",
            "password1": "a-long-passphrase-9",
            "password2": "a-long-passphrase-9",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(email="new@example.com")
    assert user.tier == Tier.FREE
    assert client.get("/").status_code == 200  # logged in at once (verification optional)

    response = client.post("/accounts/logout/", {"csrfmiddlewaretoken": _csrf(client, "/accounts/logout/")})
    assert response.status_code == 302
    assert client.get("/")["Location"].startswith("/accounts/login/")

    token = _csrf(client, "/accounts/login/")
    response = client.post(
        "/accounts/login/",
        {"login": "new@example.com", "password": "a-long-passphrase-9", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_it_refuses_a_post_without_csrf_token():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/signup/", {"email": "x@example.com", "password1": "p", "password2": "p"})
    assert response.status_code == 403
    assert not User.objects.filter(email="x@example.com").exists()


def test_it_rejects_a_wrong_password(user):
    client = Client(enforce_csrf_checks=True)
    token = _csrf(client, "/accounts/login/")
    response = client.post("/accounts/login/", {"login": user.email, "password": "nope", "csrfmiddlewaretoken": token})
    assert response.status_code == 200  # form re-rendered with an error
    assert "not correct" in response.content.decode()
    assert client.get("/").status_code == 302


def test_it_keeps_signup_input_and_explains_mismatched_passwords():
    client = Client()
    response = client.post(
        "/accounts/signup/", {"email": "keep@example.com", "password1": "a-long-passphrase-9", "password2": "other-9"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'value="keep@example.com"' in body
    assert "same password" in body
    assert not User.objects.filter(email="keep@example.com").exists()
