"""The brokers page: disconnecting asks first, then the row goes and a toast says so; each
connection's health, and a connection that breaks toasted on every open page."""

import re
import subprocess
import sys
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.flows import api, connect_paper, sign_up, unique_email
from tests.processes import BASE_DIR

pytestmark = [pytest.mark.e2e, pytest.mark.shared_redis]


def test_it_disconnects_the_paper_broker_after_confirming_in_a_dialog(page, console):
    sign_up(page, unique_email("brokers"))
    connect_paper(page)
    page.goto("/brokers/")
    row = page.get_by_test_id("broker-list").locator('[data-broker="paper"]')
    expect(row.locator('[data-field="equity"]')).to_contain_text("100,000.00")
    dialog = page.get_by_role("dialog")

    row.get_by_role("button", name="Disconnect").click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Keep").click()
    expect(dialog).to_be_hidden()
    expect(row).to_be_visible()

    row.get_by_role("button", name="Disconnect").click()
    dialog.get_by_role("button", name="Yes, disconnect").click()
    expect(row).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text=re.compile("disconnected", re.IGNORECASE))).to_be_visible()
    expect(page.get_by_text("No brokers connected")).to_be_visible()
    expect(page.get_by_role("link", name="Connect a broker").first).to_be_visible()
    assert api(page, "GET", "/api/brokers/user/configured") == []
    console.assert_clean()


# --- connection health ------------------------------------------------------------------------

SCHWAB_SIGN_IN_ENDING = """
from datetime import timedelta
from django.utils import timezone
from accounts.models import User
from brokers.models import BrokerConnection
from brokers.services.portfolio import portfolio_changed

user = User.objects.get(email={email!r})
now = timezone.now()
BrokerConnection.objects.create(
    user=user, broker="schwab", account_id="SCHWAB-1", status="pending_authorization",
    last_error="The Schwab login is about to end.", last_checked_at=now, consecutive_failures=0,
    last_success_at=now - timedelta(hours=2), auth_expires_at=now + timedelta(hours=20, minutes=5),
)
portfolio_changed(user_id=user.pk)
"""

PAPER_FAILS = """
from accounts.models import User
from brokers.models import BrokerConnection
from brokers.services.connections import connection_health_mark

connection = BrokerConnection.objects.get(user__email={email!r}, broker="paper")
connection_health_mark(connection, error="gateway unreachable")
"""


def _in_the_app(app, script: str) -> None:
    """Run Django code in the app's own database and Redis (its events reach the open pages)."""
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=BASE_DIR, env=app.env, check=True, timeout=120
    )


def _after_a_balance_poll(page, broker: str) -> None:
    """Wait for beat's next refresh of `broker`: the following ones are a poll interval away."""

    def checked():
        return next(c for c in api(page, "GET", "/api/brokers/user/configured") if c["broker"] == broker)[
            "last_checked_at"
        ]

    before = checked()
    for _ in range(200):
        page.wait_for_timeout(250)
        if checked() != before:
            return
    raise AssertionError(f"{broker} was not refreshed within 50 s")


def test_it_shows_connection_health_and_toasts_a_failing_connection_on_every_open_page(page, context, console, app):
    email = unique_email("health")
    sign_up(page, email)
    connect_paper(page)
    page.goto("/brokers/")
    row = page.get_by_test_id("broker-list").locator('[data-broker="paper"]')
    expect(row.locator('[data-field="status"]')).to_have_text("Connected")
    expect(row.locator('[data-field="consecutive_failures"]')).to_have_text("0")
    expect(row.locator('[data-field="last_success_at"] time')).to_be_visible()
    expect(row.locator('[data-field="failing_since"]')).to_be_hidden()
    other = context.new_page()  # a second open page, with no broker list of its own
    other.goto("/account/")
    for tab in (page, other):
        expect(tab.locator('body[data-realtime="live"]')).to_be_attached(timeout=20_000)

    # A Schwab login about to end: a toast on both pages, and the row asks to re-authorise.
    _in_the_app(app, SCHWAB_SIGN_IN_ENDING.format(email=email))
    for tab in (page, other):
        expect(tab.get_by_role("alert").filter(has_text="Schwab needs you to sign in again.")).to_be_visible()
    schwab = page.get_by_test_id("broker-list").locator('[data-broker="schwab"]')
    expect(schwab.locator('[data-field="status"]')).to_have_text("Needs sign-in")
    expect(schwab.locator('[data-field="auth_expires_at"]')).to_have_text("Schwab login ends in 20 hours")
    expect(schwab.locator('[data-field="last_success_at"] time')).to_be_visible()
    reauthorize = schwab.get_by_role("button", name="Re-authorise with Schwab")
    expect(reauthorize).to_be_visible()
    action = schwab.locator('form[data-action="reauthorize"]')
    expect(action).to_have_attribute("action", "/brokers/schwab/reauthorize")
    expect(action).to_have_attribute("method", "post")

    # The paper connection fails (just after a poll, so the next one cannot mend it meanwhile).
    _after_a_balance_poll(page, "paper")
    _in_the_app(app, PAPER_FAILS.format(email=email))
    for tab in (page, other):
        failed = tab.get_by_role("alert").filter(has_text="Paper broker connection failed: gateway unreachable")
        expect(failed).to_be_visible()
    expect(row.locator('[data-field="status"]')).to_have_text("Error")
    expect(row.locator('[data-field="consecutive_failures"]')).to_have_text("1")
    expect(row.locator('[data-field="failing_since"]')).to_have_text(re.compile(r"^Paper broker failing since \d"))
    expect(row.locator('[data-field="last_error"]')).to_contain_text("gateway unreachable")
    expect(row.get_by_role("button", name="Re-test")).to_be_visible()

    # Re-authorise posts the form (with its CSRF token); the server starts the sign-in in this browser
    # session and redirects to Schwab. The redirect is read here and not followed: nothing leaves the machine.
    answers = []

    def stop_at_the_redirect(route):
        answers.append(route.fetch(max_redirects=0))
        route.fulfill(body="<h1>Schwab sign-in</h1>")

    page.route("**/brokers/schwab/reauthorize", stop_at_the_redirect)
    reauthorize.click()
    expect(page.get_by_role("heading", name="Schwab sign-in")).to_be_visible()
    (answer,) = answers
    assert answer.status == 302, answer.text()
    location = urlparse(answer.headers["location"])
    query = parse_qs(location.query)
    assert location.path == "/v1/oauth/authorize" and query["state"][0]
    assert query["redirect_uri"] == [f"{app.url}/brokers/oauth/callback"]
    console.assert_clean()
