"""The connect wizard: a free user connects the paper broker; premium brokers say how to get them;
Schwab's app keys are stored and the browser goes on to Schwab's sign-in."""

import re
import subprocess
import sys
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.flows import api, screenshot, sign_up, unique_email
from tests.processes import BASE_DIR

pytestmark = [pytest.mark.e2e, pytest.mark.shared_redis]


def test_it_connects_the_paper_broker_and_marks_premium_brokers_for_a_free_user(page, console):
    sign_up(page, unique_email("wizard"))
    names = {b["key"]: b["name"] for b in api(page, "GET", "/api/brokers/supported")}
    page.goto("/brokers/connect/")
    expect(page.get_by_role("heading", level=2).first).to_be_visible()

    # Step 1: one card per broker; Alpaca is premium, with the way to upgrade.
    for key, name in names.items():
        expect(page.locator(f'button[data-broker="{key}"]')).to_have_accessible_name(re.compile("^" + re.escape(name)))
    alpaca = page.locator('button[data-broker="alpaca"]')
    expect(alpaca).to_have_accessible_name(re.compile(r"\bPremium\b"))
    alpaca_card = page.get_by_role("listitem").filter(has=alpaca)
    expect(alpaca_card).to_contain_text(re.compile("premium", re.IGNORECASE))
    expect(alpaca_card.locator('a[href="/account/"]')).to_be_visible()
    expect(page.get_by_role("button", name="Back")).to_be_visible()
    screenshot(page, "wizard.png")

    # Step 2: the paper broker needs no credentials; only the Paper mode applies to it.
    page.locator('button[data-broker="paper"]').click()
    expect(page.get_by_role("heading", level=2, name=re.compile("Connect"))).to_be_visible()
    expect(page.get_by_role("radio", name="Paper")).to_be_checked()
    expect(page.get_by_role("radio", name="Live")).to_have_count(0)
    expect(page.get_by_label("Label")).to_be_visible()
    expect(page.get_by_role("button", name="Back")).to_be_visible()
    page.get_by_role("button", name="Test connection").click()
    result = page.get_by_test_id("test-result")
    expect(result).to_contain_text("Connected", timeout=15_000)
    expect(result).to_contain_text("USD")
    page.get_by_role("button", name="Save connection").click()

    page.wait_for_url("**/brokers/")
    row = page.get_by_test_id("broker-list").locator('[data-broker="paper"]')
    expect(row).to_be_visible()
    expect(row.locator('[data-field="status"]')).to_contain_text(re.compile("connected", re.IGNORECASE))
    console.assert_clean()


def test_it_sends_the_browser_to_schwabs_sign_in_after_storing_the_app_keys(page, console, app):
    email = unique_email("schwab")
    sign_up(page, email)
    subprocess.run(
        [sys.executable, "manage.py", "set_tier", email, "premium"], cwd=BASE_DIR, env=app.env, check=True, timeout=120
    )
    # Schwab's authorise page, answered here: the browser must get there, nothing leaves the machine.
    page.route(re.compile(r"/v1/oauth/authorize\?"), lambda route: route.fulfill(body="<h1>Schwab sign-in</h1>"))
    page.goto("/brokers/connect/?broker=schwab")
    page.get_by_label("App key").fill("APPKEY123")
    page.get_by_label("App secret").fill("app-secret")
    page.get_by_role("button", name="Continue to Schwab").click()

    page.wait_for_url(re.compile(r"/v1/oauth/authorize\?"))
    query = parse_qs(urlparse(page.url).query)
    assert query["client_id"] == ["APPKEY123"] and query["response_type"] == ["code"] and query["state"][0]
    assert query["redirect_uri"] == [f"{app.url}/brokers/oauth/callback"]
    (schwab,) = [c for c in api(page, "GET", "/api/brokers/user/configured") if c["broker"] == "schwab"]
    assert schwab["status"] == "pending_authorization"
    console.assert_clean()
