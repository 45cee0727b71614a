"""The brokers page: disconnecting asks first, then the row goes and a toast says so."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.flows import api, connect_paper, sign_up, unique_email

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
