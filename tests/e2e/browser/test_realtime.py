"""A lost WebSocket: the page says "reconnecting", then comes back live and quotes flow again."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.flows import DEMO, log_in, wait_live

pytestmark = [pytest.mark.e2e, pytest.mark.shared_redis]

RECORD_STATUSES = """() => {
  const el = document.querySelector('[data-testid="connection-status"]');
  window.__statuses = [el.dataset.status];
  new MutationObserver(() => window.__statuses.push(el.dataset.status))
    .observe(el, { attributes: true, attributeFilter: ["data-status"] });
}"""


def test_it_shows_reconnecting_while_the_server_restarts_and_recovers(page, console, app):
    log_in(page, *DEMO)  # watches AAPL
    wait_live(page)
    price = page.get_by_test_id("watchlist").locator('tr[data-symbol="AAPL"] [data-field="price"]')
    expect(price).to_have_text(re.compile(r"^\d"), timeout=10_000)
    page.evaluate(RECORD_STATUSES)
    page.evaluate("window.__sameDocument = true")

    # Chromium logs each refused reconnect attempt as a console error; nothing else may appear.
    console.expect_websocket_failures()
    app.stop_web()  # the socket drops with the process
    status = page.get_by_test_id("connection-status")
    expect(status).to_have_attribute("data-status", "reconnecting")
    expect(status).to_have_text("reconnecting")
    app.start_web()  # same port
    expect(status).to_have_attribute("data-status", "live", timeout=30_000)

    statuses = page.evaluate("window.__statuses")
    assert statuses[0] == "live" and statuses[-1] == "live" and "reconnecting" in statuses, statuses
    assert set(statuses) <= {"live", "reconnecting"}, statuses  # never "offline": it kept trying
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    # The new socket subscribed again: quotes keep coming.
    before = price.text_content()
    expect(price).not_to_have_text(before, timeout=10_000)
    console.assert_clean()
