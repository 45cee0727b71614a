"""Senders and listeners take event names from one catalogue, so they can never disagree."""

import re
from pathlib import Path

from django.conf import settings

from realtime import events

ROOT = Path(settings.BASE_DIR)
DOMAIN_EVENTS = {events.PORTFOLIO_UPDATE, events.TRADE_EXECUTED, events.TRADE_FAILED, events.WATCHLIST_QUOTE}


def _constant_names() -> dict[str, str]:
    return {name: value for name, value in vars(events).items() if name.isupper() and value in events.SERVER_EVENTS}


def _js_references() -> set[str]:
    text = "\n".join(p.read_text() for p in (ROOT / "static" / "js").rglob("*.js"))
    return set(re.findall(r"EVENTS\.([A-Z_]+)", text))


def test_the_contract_events_are_in_the_catalogue():
    assert {"portfolio:update", "trade:executed", "trade:failed", "watchlist:quote"} == DOMAIN_EVENTS
    assert set(events.SERVER_EVENTS) >= DOMAIN_EVENTS


def test_every_server_event_has_a_listener_in_the_client_and_no_listener_is_unknown():
    names = _constant_names()
    referenced = _js_references()
    assert referenced - set(names) == set(), "the client listens for events the server never sends"
    assert set(names) - referenced == set(), "the server sends events no client code listens for"


def test_every_event_the_python_code_sends_is_in_the_catalogue():
    names = _constant_names()
    sources = [p for app in ("brokers", "realtime", "watchlist", "accounts") for p in (ROOT / app).rglob("*.py")]
    used = {m for p in sources for m in re.findall(r"events\.([A-Z_]{3,})\b", p.read_text())}
    assert used, "no emitter found"
    assert used - set(names) - {"SERVER_EVENTS", "CLIENT_ACTIONS"} == set()


def test_the_served_module_matches_the_catalogue(client):
    response = client.get("/js/events.js")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    body = response.content.decode()
    for name, value in _constant_names().items():
        assert f'{name}: "{value}"' in body
