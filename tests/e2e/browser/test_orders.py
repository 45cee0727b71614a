"""The orders page: a market buy fills, one too big for the cash fails; toasts and rows say so."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.flows import api, connect_paper, sign_up, unique_email, wait_live

pytestmark = [pytest.mark.e2e, pytest.mark.shared_redis]


def _place(page, *, side: str, qty: str, symbol: str) -> None:
    ticket = page.get_by_role("form", name="Order ticket")
    ticket.get_by_label("Broker").select_option("paper")
    ticket.get_by_label("Side").select_option(side)
    ticket.get_by_label("Type").select_option("market")
    ticket.get_by_label("Symbol").fill(symbol)
    ticket.get_by_label("Quantity").fill(qty)
    ticket.get_by_role("button", name="Place order").click()


def test_it_places_a_market_buy_that_fills_and_one_that_fails_for_insufficient_funds(page, console):
    sign_up(page, unique_email("orders"))
    connect_paper(page)
    page.goto("/orders/")
    wait_live(page)  # the outcome only arrives on the socket

    _place(page, side="buy", qty="1", symbol="AAPL")
    filled = page.get_by_role("status").filter(has_text=re.compile(r"^Buy 1 AAPL filled at \d"))
    expect(filled).to_be_visible(timeout=15_000)

    _place(page, side="buy", qty="100000", symbol="AAPL")
    failed = page.get_by_role("alert").filter(has_text=re.compile(r"^Buy 100000 AAPL failed: .+"))
    expect(failed).to_be_visible(timeout=15_000)

    # Rows, newest first in the API: each shows its final status without a reload.
    big, small = api(page, "GET", "/api/brokers/user/paper/orders")
    assert (small["qty"], small["status"], big["qty"], big["status"]) == ("1", "filled", "100000", "rejected")
    orders = page.get_by_test_id("orders")
    expect(orders.locator(f'[data-order-id="{small["id"]}"] [data-field="status"]')).to_have_text(
        re.compile("^filled$", re.IGNORECASE)
    )
    expect(orders.locator(f'[data-order-id="{big["id"]}"] [data-field="status"]')).to_have_text(
        re.compile("^rejected$", re.IGNORECASE)
    )
    console.assert_clean()
