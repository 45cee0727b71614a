"""The connect wizard: a free user connects the paper broker; premium brokers say how to get them."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.flows import api, screenshot, sign_up, unique_email

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
