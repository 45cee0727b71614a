"""Sign up, log out, log in: the allauth pages land on the dashboard."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.flows import log_in, sign_up, unique_email

pytestmark = [pytest.mark.e2e, pytest.mark.shared_redis]


def test_it_signs_up_logs_out_and_logs_back_in(page, console):
    email = unique_email("signup")
    sign_up(page, email)
    # A new user has nothing connected: the dashboard sends them to the wizard.
    connect = page.get_by_test_id("portfolio-empty").get_by_role("link", name="Connect a broker")
    expect(connect).to_have_attribute("href", "/brokers/connect/")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))  # the dashboard is behind login

    log_in(page, email)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard")).to_have_attribute(
        "aria-current", "page"
    )
    console.assert_clean()
