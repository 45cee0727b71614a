"""The connect wizard and the brokers page: login-only shells with the UI hooks, and the
registry details the wizard reads from /api/brokers/supported."""

import pytest
from django.test import Client

from accounts.models import Tier

pytestmark = pytest.mark.django_db

PAGES = ["/brokers/", "/brokers/connect/"]


@pytest.fixture
def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", PAGES)
def test_it_sends_anonymous_visitors_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_it_renders_the_wizard_with_the_users_tier(browser):
    page = browser.get("/brokers/connect/").content.decode()
    assert 'data-tier="free"' in page
    assert '<h2 id="step-choose-title" tabindex="-1">Step 1 of 2: Choose a broker</h2>' in page
    assert 'data-testid="test-result"' in page
    assert '<label for="connect-label">Label</label>' in page
    for button in ("Back", "Test connection", "Save connection"):
        assert f">{button}</button>" in page
    assert "/static/js/connect.js" in page


def test_it_tells_the_wizard_a_premium_user_is_premium(make_user):
    client = Client()
    client.force_login(make_user(Tier.PREMIUM))
    assert 'data-tier="premium"' in client.get("/brokers/connect/").content.decode()


def test_it_renders_the_brokers_page_with_its_list_dialog_and_empty_state(browser):
    page = browser.get("/brokers/").content.decode()
    assert 'data-testid="broker-list"' in page
    assert "No brokers connected" in page
    assert 'href="/brokers/connect/">Connect a broker</a>' in page
    assert "<dialog" in page and ">Yes, disconnect</button>" in page and ">Keep</button>" in page
    assert "/static/js/brokers.js" in page


def test_it_serves_the_pages_scripts(browser):
    for name in ("connect.js", "brokers.js", "broker_messages.js"):
        response = browser.get(f"/static/js/{name}")
        assert response.status_code == 200, name
        assert b"import" in b"".join(response.streaming_content)


def test_it_lists_what_the_wizard_needs_for_each_broker(api):
    brokers = {b["key"]: b for b in api.get("/api/brokers/supported").json()}
    ibkr = brokers["ibkr"]
    port = next(f for f in ibkr["credential_fields"] if f["name"] == "port")
    assert port["default"] == "4002" and "4001 live" in port["help"]
    assert ibkr["docs_url"].startswith("https://") and ibkr["bracket"] == "native"
    assert brokers["moomoo"]["bracket"] == "emulated"
    assert brokers["schwab"]["short_name"] == "Schwab" and brokers["alpaca"]["short_name"] == "Alpaca"
    assert brokers["paper"]["docs_url"] == ""
    assert all(b["disabled_reason"] == "" for b in brokers.values())


def test_it_says_why_a_broker_outside_the_allow_list_is_unavailable(api, settings):
    settings.ALLOWED_BROKERS = ["kraken"]
    brokers = {b["key"]: b for b in api.get("/api/brokers/supported").json()}
    assert brokers["alpaca"]["enabled"] is False
    assert brokers["alpaca"]["disabled_reason"] == "Alpaca is not enabled on this server."
    assert brokers["kraken"]["disabled_reason"] == "" and brokers["paper"]["disabled_reason"] == ""


def test_it_says_when_broker_integrations_are_turned_off(api, settings):
    settings.BROKER_INTEGRATIONS_ENABLED = False
    brokers = {b["key"]: b for b in api.get("/api/brokers/supported").json()}
    assert brokers["coinbase"]["disabled_reason"] == "Broker integrations are turned off right now."
    assert brokers["paper"]["enabled"] is True and brokers["paper"]["disabled_reason"] == ""
