"""The /api/watchlist routes (CONTRACT.md): list, add, remove, validation, isolation, the cap."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.services import api_token_create
from watchlist import selectors
from watchlist.models import WatchlistItem
from watchlist.services import WATCHLIST_MAX_SYMBOLS
from watchlist.tasks import quotes_poll

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for():
    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='test').key}")
        return client

    return make


def _symbols(client) -> list[str]:
    response = client.get("/api/watchlist")
    assert response.status_code == 200, response.content
    return [row["symbol"] for row in response.json()]


def test_it_starts_empty_and_lists_symbols_oldest_first(token_client):
    assert _symbols(token_client) == []
    for symbol in ("MSFT", "AAPL", "BTC/USD"):
        assert token_client.post("/api/watchlist", {"symbol": symbol}, format="json").status_code == 201
    assert _symbols(token_client) == ["MSFT", "AAPL", "BTC/USD"]


def test_it_adds_a_symbol_with_201_and_returns_the_item(token_client):
    response = token_client.post("/api/watchlist", {"symbol": "AAPL"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["symbol"] == "AAPL" and body["quote"] is None
    assert body["added_at"].endswith("Z")
    assert token_client.get("/api/watchlist").json() == [body]


@pytest.mark.parametrize(("typed", "stored"), [("aapl", "AAPL"), ("btc/usd", "BTC/USD"), (" Eth / usd ", "ETH/USD")])
def test_it_stores_symbols_in_canonical_form(token_client, typed, stored):
    response = token_client.post("/api/watchlist", {"symbol": typed}, format="json")
    assert response.status_code == 201 and response.json()["symbol"] == stored
    assert _symbols(token_client) == [stored]


def test_it_returns_the_existing_item_with_200_when_the_symbol_is_already_listed(token_client):
    first = token_client.post("/api/watchlist", {"symbol": "BTC/USD"}, format="json")
    again = token_client.post("/api/watchlist", {"symbol": "btc/usd"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert WatchlistItem.objects.filter(user=token_client.user).count() == 1


@pytest.mark.parametrize("body", [{"symbol": "NOPE"}, {"symbol": "BTC/EUR"}, {"symbol": ""}, {}])
def test_it_rejects_an_unknown_or_missing_symbol_and_stores_nothing(token_client, body):
    response = token_client.post("/api/watchlist", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["fields"]["symbol"]
    assert not WatchlistItem.objects.exists()


def test_it_removes_a_symbol_with_204(token_client):
    token_client.post("/api/watchlist", {"symbol": "AAPL"}, format="json")
    token_client.post("/api/watchlist", {"symbol": "MSFT"}, format="json")
    response = token_client.delete("/api/watchlist/aapl")
    assert response.status_code == 204 and response.content == b""
    assert _symbols(token_client) == ["MSFT"]


@pytest.mark.parametrize("path", ["/api/watchlist/BTC%2FUSD", "/api/watchlist/btc%2fusd"])
def test_it_removes_a_pair_named_with_a_percent_encoded_slash(token_client, path):
    token_client.post("/api/watchlist", {"symbol": "BTC/USD"}, format="json")
    assert token_client.delete(path).status_code == 204
    assert _symbols(token_client) == []


def test_it_404s_removing_a_symbol_that_is_not_listed(token_client):
    response = token_client.delete("/api/watchlist/AAPL")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_it_keeps_each_users_list_separate(token_client, make_user, client_for):
    other = client_for(make_user())
    token_client.post("/api/watchlist", {"symbol": "AAPL"}, format="json")
    other.post("/api/watchlist", {"symbol": "MSFT"}, format="json")
    assert _symbols(token_client) == ["AAPL"] and _symbols(other) == ["MSFT"]
    assert other.delete("/api/watchlist/AAPL").status_code == 404
    assert _symbols(token_client) == ["AAPL"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/watchlist"), ("post", "/api/watchlist"), ("delete", "/api/watchlist/AAPL")],
)
def test_it_requires_authentication(api, method, path):
    response = getattr(api, method)(path, {"symbol": "AAPL"} if method == "post" else None, format="json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


def test_it_caps_a_list_at_200_symbols(token_client):
    user = token_client.user
    WatchlistItem.objects.bulk_create(
        WatchlistItem(user=user, symbol=f"X{n}") for n in range(WATCHLIST_MAX_SYMBOLS - 1)
    )
    assert token_client.post("/api/watchlist", {"symbol": "AAPL"}, format="json").status_code == 201
    assert token_client.post("/api/watchlist", {"symbol": "AAPL"}, format="json").status_code == 200
    response = token_client.post("/api/watchlist", {"symbol": "MSFT"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and "200" in error["message"] and error["fields"]["symbol"]
    assert WatchlistItem.objects.filter(user=user).count() == WATCHLIST_MAX_SYMBOLS


def test_it_lists_no_quote_before_the_first_poll_and_the_last_quote_after(token_client):
    token_client.post("/api/watchlist", {"symbol": "BTC/USD"}, format="json")
    assert token_client.get("/api/watchlist").json()[0]["quote"] is None
    assert quotes_poll() == 1
    quote = token_client.get("/api/watchlist").json()[0]["quote"]
    assert quote["symbol"] == "BTC/USD" and quote["source"] == "paper"
    assert all(isinstance(quote[k], str) for k in ("price", "bid", "ask", "change", "change_pct", "volume"))
    again = token_client.post("/api/watchlist", {"symbol": "BTC/USD"}, format="json")
    assert again.json()["quote"] == quote


def test_it_lists_any_number_of_symbols_with_the_same_queries_and_one_redis_read(
    token_client, django_assert_num_queries, monkeypatch
):
    reads = []
    real = selectors.quotes_last
    monkeypatch.setattr(selectors, "quotes_last", lambda symbols: reads.append(1) or real(symbols))
    token_client.post("/api/watchlist", {"symbol": "AAPL"}, format="json")
    token_client.get("/api/watchlist")  # the token is cached from here on: compare like with like
    with CaptureQueriesContext(connection) as one_item:
        token_client.get("/api/watchlist")
    queries = len(one_item)  # now: the log it slices is reset by the next request
    for symbol in ("MSFT", "NVDA", "BTC/USD", "ETH/USD", "SOL/USD"):
        token_client.post("/api/watchlist", {"symbol": symbol}, format="json")
    quotes_poll()
    reads.clear()
    with django_assert_num_queries(queries):
        rows = token_client.get("/api/watchlist").json()
    assert len(rows) == 6 and all(row["quote"] for row in rows)
    assert reads == [1]
