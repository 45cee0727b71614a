"""The orders page: a login-only shell whose script drives the order API; these tests check the
hooks a browser relies on and the capabilities the ticket reads from /api/brokers/supported."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

URL = "/orders/"


class _Controls(HTMLParser):
    """Label texts → the tag of the control each label points at, plus every element's attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.html = ""
        self.elements: list[tuple[str, dict[str, str]]] = []
        self._label_for: str | None = None
        self._label_text: list[str] = []
        self.labels: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.elements.append((tag, attributes))
        if tag == "label" and "for" in attributes:
            self._label_for, self._label_text = attributes["for"], []

    def handle_data(self, data: str) -> None:
        if self._label_for:
            self._label_text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._label_for:
            self.labels["".join(self._label_text).strip()] = self._label_for
            self._label_for = None

    def control(self, label: str) -> str:
        target = self.labels[label]
        return next(tag for tag, attrs in self.elements if attrs.get("id") == target)

    def has(self, tag: str, **attributes: str) -> bool:
        wanted = {k.replace("_", "-"): v for k, v in attributes.items()}
        return any(t == tag and all(a.get(k) == v for k, v in wanted.items()) for t, a in self.elements)


@pytest.fixture
def page(user) -> _Controls:
    client = Client()
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 200
    parsed = _Controls()
    parsed.html = response.content.decode()
    parsed.feed(parsed.html)
    return parsed


def test_it_sends_anonymous_visitors_to_login():
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={URL}"


def test_it_renders_the_order_ticket_with_labelled_controls(page):
    assert page.has("form", aria_label="Order ticket")
    for label in ("Broker", "Side", "Type", "Time in force"):
        assert page.control(label) == "select", label
    for label in (
        "Symbol",
        "Quantity",
        "Limit price",
        "Stop price",
        "Take-profit limit price",
        "Stop-loss stop price",
    ):
        assert page.control(label) == "input", label
    assert '<button type="submit" class="primary">Place order</button>' in page.html


def test_it_renders_the_history_status_badge_and_script(page):
    assert page.has("table", data_testid="orders")
    assert page.has("span", data_testid="connection-status", data_status="connecting")
    assert page.has("p", data_testid="orders-error", role="alert")
    assert page.has("script", type="module", src="/static/js/orders.js")
    for value in ("all", "open", "closed"):
        assert page.has("input", type="radio", name="order-filter", value=value)
    assert page.has("a", href="/brokers/connect/")  # the empty state's way to a broker


def test_it_serves_the_script_with_its_imports(user):
    client = Client()
    client.force_login(user)
    response = client.get("/static/js/orders.js")
    assert response.status_code == 200
    script = b"".join(response.streaming_content).decode()
    assert 'from "./trades.js"' in script and "showTrades(client" in script
    assert "crypto.randomUUID" in script and "client_order_id" in script


def test_it_reads_order_types_and_bracket_support_from_the_supported_list():
    brokers = {b["key"]: b for b in Client().get("/api/brokers/supported").json()}
    assert brokers["paper"]["order_types"] == ["market", "limit", "stop", "stop_limit"]
    assert brokers["paper"]["bracket"] in {"native", "emulated"}
    assert "stop" not in brokers["coinbase"]["order_types"]
    assert brokers["coinbase"]["capabilities"]["bracket_legs"] == "both"  # the ticket asks for both exits
    assert brokers["coinbase"]["capabilities"]["stop_loss_limit"] is False  # and hides the stop-loss limit
    assert brokers["paper"]["capabilities"]["bracket_legs"] == "any"
    # the ticket offers a stop-limit only the time in force Coinbase takes for it
    assert brokers["coinbase"]["capabilities"]["time_in_force_by_type"] == {"stop_limit": ["day", "gtc"]}
    assert brokers["paper"]["capabilities"]["time_in_force_by_type"] == {}
