"""The dashboard: live watchlist, the portfolio updated by events, phone width."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.flows import (
    DEMO,
    SocketFrames,
    api,
    connect_paper,
    log_in,
    screenshot,
    sign_up,
    unique_email,
    wait_live,
)

pytestmark = [pytest.mark.e2e, pytest.mark.shared_redis]

PRICE = re.compile(r"^\d+(\.\d+)?$")


def _price(page, symbol):
    return page.get_by_test_id("watchlist").locator(f'tr[data-symbol="{symbol}"] [data-field="price"]')


def test_it_adds_a_symbol_whose_price_then_ticks_and_explains_an_unknown_one(page, console):
    frames = SocketFrames(page)
    sign_up(page, unique_email("watch"))
    wait_live(page)
    form = page.get_by_role("form", name="Add to watchlist")
    symbol = form.get_by_label("Symbol")

    symbol.fill("AAPL")
    form.get_by_role("button", name="Add").click()
    price = _price(page, "AAPL")
    expect(price).to_have_text(PRICE, timeout=10_000)
    first = price.text_content()
    expect(price).not_to_have_text(first, timeout=10_000)  # the next tick, within 10 s
    expect(price).to_have_text(PRICE)

    console.expect_http_error(400, "/api/watchlist")
    symbol.fill("NOPE123")
    form.get_by_role("button", name="Add").click()
    error = page.locator("#" + symbol.get_attribute("id") + "-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("NOPE123")
    expect(symbol).to_have_value("NOPE123")
    expect(symbol).to_have_attribute("aria-invalid", "true")
    expect(symbol).to_have_attribute("aria-describedby", re.compile(error.get_attribute("id")))
    expect(page.get_by_test_id("watchlist").locator('tr[data-symbol="NOPE123"]')).to_have_count(0)

    # A crypto pair goes on and comes off again (its slash is percent-encoded in the DELETE).
    symbol.fill("btc/usd")
    form.get_by_role("button", name="Add").click()
    expect(_price(page, "BTC/USD")).to_have_text(PRICE, timeout=10_000)
    expect(error).to_be_hidden()
    page.get_by_role("button", name="Remove BTC/USD").click()
    expect(page.get_by_test_id("watchlist").locator('tr[data-symbol="BTC/USD"]')).to_have_count(0)
    assert [item["symbol"] for item in api(page, "GET", "/api/watchlist")] == ["AAPL"]
    # The socket's subscription followed the list.
    frames.wait_for_action(page, ("unsubscribe", ["BTC/USD"]))
    assert frames.actions() == [("subscribe", ["AAPL"]), ("subscribe", ["BTC/USD"]), ("unsubscribe", ["BTC/USD"])]
    console.assert_clean()


def test_it_updates_the_portfolio_total_after_a_fill_without_a_reload(page, console):
    sign_up(page, unique_email("portfolio"))
    connect_paper(page)
    for symbol in ("AAPL", "MSFT", "ETH/USD"):
        api(page, "POST", "/api/watchlist", {"symbol": symbol})
    page.goto("/")
    wait_live(page)
    total = page.get_by_test_id("portfolio-total")
    expect(total).to_have_text("$100,000.00")
    page.evaluate("window.__sameDocument = true")

    # Crypto pays a fee, so the fill itself moves the total (stocks are commission-free).
    api(
        page,
        "POST",
        "/api/brokers/user/paper/orders",
        {"symbol": "BTC/USD", "side": "buy", "type": "market", "qty": "0.01"},
    )
    expect(page.get_by_role("status").filter(has_text=re.compile(r"^Buy 0\.01 BTC/USD filled at"))).to_be_visible(
        timeout=15_000
    )
    expect(total).not_to_have_text("$100,000.00", timeout=15_000)
    expect(total).to_have_text(re.compile(r"^\$\d{2},\d{3}\.\d{2}$"))
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    row = page.get_by_test_id("portfolio-brokers").locator('tr[data-broker="paper"]')
    expect(row.locator('[data-field="cash"]')).not_to_have_text("$100,000.00")

    # The screenshot: figures, sparklines and quotes in, the toast gone.
    for symbol in ("AAPL", "MSFT", "ETH/USD"):
        expect(_price(page, symbol)).to_have_text(PRICE, timeout=10_000)
    expect(page.get_by_test_id("toasts").locator(".toast")).to_have_count(0, timeout=10_000)
    screenshot(page, "dashboard.png")
    console.assert_clean()


def test_it_fits_a_phone_screen_without_sideways_scrolling(page, console):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, *DEMO)  # premium, paper connected, three symbols: a full dashboard
    wait_live(page)
    expect(page.get_by_test_id("portfolio-total")).to_have_text(re.compile(r"^\$"))
    for symbol in ("AAPL", "MSFT", "BTC/USD"):
        expect(_price(page, symbol)).to_have_text(PRICE, timeout=10_000)
    width = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page is {width[0]}px wide in a {width[1]}px viewport"
    remove = page.get_by_role("button", name="Remove AAPL").bounding_box()
    assert remove is not None and remove["x"] + remove["width"] <= 390, f"Remove AAPL is off screen: {remove}"
    # Nor do the tables scroll inside their own boxes: every column that shows fits.
    inner = page.evaluate("[...document.querySelectorAll('.table-scroll')].map(e => e.scrollWidth - e.clientWidth)")
    assert inner and max(inner) <= 0, f"a table overflows its box by {inner} px"
    console.assert_clean()


def test_it_fits_every_other_page_into_a_phone_screen(page, console):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, *DEMO)
    wide = {}
    for path in ("/orders/", "/bots/", "/brokers/", "/brokers/connect/", "/account/"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        scroll, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        if scroll > inner:
            wide[path] = scroll
    assert not wide, f"wider than the 390px screen: {wide}"
    console.assert_clean()
