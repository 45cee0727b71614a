"""The dashboard shell: login-only, with the contract's hooks for the script and browser tests."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_it_sends_anonymous_visitors_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_it_renders_the_hooks_the_script_fills(user):
    client = Client()
    client.force_login(user)
    page = client.get("/").content.decode()
    for hook in ("portfolio-total", "watchlist", "connection-status", "portfolio-brokers", "portfolio-sparkline"):
        assert f'data-testid="{hook}"' in page
    assert 'aria-label="Add to watchlist"' in page
    assert '<label for="watch-symbol">Symbol</label>' in page
    assert '<p class="field-error" id="watch-symbol-error" hidden></p>' in page
    assert ">Add</button>" in page
    assert '<a href="/brokers/connect/">Connect a broker</a>' in page  # the empty state, shown by the script
    assert "/static/js/dashboard.js" in page
