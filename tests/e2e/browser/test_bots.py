"""The bots page: a bot's webhook URL once, its signals live in its log, pause and resume, rotate,
edit and delete; the kill switch in the header halts bots and refuses opening orders until released."""

import json
import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.browser.flows import api, connect_paper, screenshot, sign_up, unique_email, wait_live

pytestmark = [pytest.mark.e2e, pytest.mark.shared_redis]

SETTLE_MS = 15_000  # a signal is decided and its order filled by the worker


def _hook(url: str, body: dict) -> httpx.Response:
    """What TradingView does: the alert message as a text/plain body."""
    return httpx.post(url, content=json.dumps(body), headers={"Content-Type": "text/plain"}, timeout=10)


def _bot_card(page, name: str):
    return (
        page.get_by_test_id("bot-list")
        .locator("li[data-bot-id]")
        .filter(has=page.get_by_role("heading", name=name, exact=True))
    )


def _signal(card, signal_id: str):
    return card.get_by_test_id("signal-log").locator(f'li[data-signal-id="{signal_id}"]')


def _paper_bot(page, name: str, **fields) -> dict:
    body = {"name": name, "state": "paper", "targets": [{"broker": "paper"}], "sizing": {"mode": "fixed", "value": "1"}}
    return api(page, "POST", "/api/bots", {**body, **fields})


def test_it_creates_a_bot_whose_webhook_signals_show_live_in_its_log(page, console, app):
    sign_up(page, unique_email("bots"))
    connect_paper(page)
    page.goto("/bots/")
    wait_live(page)
    page.evaluate("window.__sameDocument = true")
    form = page.get_by_test_id("bot-form")
    expect(form.get_by_label("Paper broker", exact=True)).to_be_checked()

    # The API's validation, next to each field, keeping what was typed.
    console.expect_http_error(400, "/api/bots")
    size = form.get_by_label("Size", exact=True)
    size.fill("0")
    form.get_by_role("button", name="Create bot").click()
    name = form.get_by_label("Name")
    expect(page.locator("#bot-name-error")).to_be_visible()
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_attribute("aria-describedby", re.compile("bot-name-error"))
    expect(page.locator("#bot-sizing-value-error")).to_have_text(re.compile("greater than zero"))
    expect(size).to_have_value("0")

    name.fill("Trend")
    size.fill("1")
    form.get_by_label("Allowed symbols").fill("AAPL, MSFT")
    form.get_by_role("button", name="Create bot").click()

    # The webhook URL, once, with a TradingView alert message in the signal shape.
    reveal = page.get_by_test_id("webhook-reveal")
    expect(reveal).to_be_visible()
    url = page.get_by_test_id("webhook-url").text_content()
    assert re.fullmatch(rf"{re.escape(app.url)}/hooks/bots/twb_[\w-]+", url), url
    message = json.loads(page.get_by_test_id("webhook-message").text_content())
    assert message["action"] == "{{strategy.order.action}}" and message["symbol"] == "{{ticker}}"
    assert message["time"] == "{{timenow}}" and "{{timenow}}" in message["id"]
    card = _bot_card(page, "Trend")
    expect(card.locator('[data-field="state"]')).to_have_text("Paper")

    # An alert becomes a filled paper order: the log says so live, and the fill is toasted.
    accepted = _hook(url, {"id": "tv-1", "action": "buy", "symbol": "AAPL"})
    assert accepted.status_code == 202, accepted.text
    executed = _signal(card, accepted.json()["signal_id"])
    expect(executed.locator('[data-field="status"]')).to_have_text("executed", timeout=SETTLE_MS)
    expect(executed.locator('[data-field="orders"]')).to_contain_text(re.compile(r"Buy 1 AAPL on Paper broker: filled"))
    toast = page.get_by_role("status").filter(has_text=re.compile(r"^Buy 1 AAPL filled at \d"))
    expect(toast).to_be_visible(timeout=SETTLE_MS)

    # A refused one shows its reason.
    refused = _hook(url, {"action": "buy", "symbol": "TSLA"})
    assert refused.status_code == 202, refused.text
    rejected = _signal(card, refused.json()["signal_id"])
    expect(rejected.locator('[data-field="status"]')).to_have_text("rejected", timeout=SETTLE_MS)
    expect(rejected.locator('[data-field="reason"]')).to_contain_text("symbol_not_allowed")
    expect(card.locator('[data-field="signals_today"]')).to_have_text("2")
    expect(card.locator('[data-field="orders_today"]')).to_have_text("1")

    # Replay on paper: a new signal in the log, marked as a replay, executed again.
    executed.get_by_role("button", name="Replay on paper").click()
    replay = card.get_by_test_id("signal-log").locator('li[data-signal-id]:has([data-field="replay_of"])')
    expect(replay.locator('[data-field="status"]')).to_have_text("executed", timeout=SETTLE_MS)

    # Pause: signals are refused; resume on paper: they are taken again.
    card.get_by_role("button", name="Pause").click()
    expect(card.locator('[data-field="state"]')).to_have_text("Paused")
    paused = _signal(card, _hook(url, {"action": "buy", "symbol": "MSFT"}).json()["signal_id"])
    expect(paused.locator('[data-field="reason"]')).to_contain_text("bot_not_running", timeout=SETTLE_MS)
    card.get_by_role("button", name="Resume on paper").click()
    expect(card.locator('[data-field="state"]')).to_have_text("Paper")
    assert api(page, "GET", "/api/bots")[0]["state"] == "paper"
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"

    # Shown once: after a reload the URL is nowhere on the page.
    page.get_by_role("button", name="I have copied it").click()
    expect(reveal).to_be_hidden()
    page.reload()
    wait_live(page)
    expect(_signal(card, accepted.json()["signal_id"])).to_be_visible()
    expect(reveal).to_be_hidden()
    assert url not in page.content()
    expect(page.get_by_test_id("toasts").locator(".toast")).to_have_count(0, timeout=10_000)
    screenshot(page, "bots.png")

    # The dashboard counts it among the active bots and links here.
    page.goto("/")
    active = page.get_by_test_id("active-bots")
    expect(active).to_contain_text("1")
    expect(active).to_have_attribute("href", "/bots/")
    console.assert_clean()


def test_it_rotates_the_webhook_url_edits_and_deletes_a_bot_after_confirming(page, console):
    sign_up(page, unique_email("bots-manage"))
    connect_paper(page)
    old_url = _paper_bot(page, "Rotator")["webhook_url"]
    page.goto("/bots/")
    card = _bot_card(page, "Rotator")
    dialog = page.get_by_role("dialog")

    card.get_by_role("button", name="Rotate webhook URL").click()
    expect(dialog).to_contain_text("stops working at once")
    dialog.get_by_role("button", name="Yes, rotate").click()
    expect(dialog).to_be_hidden()
    new_url = page.get_by_test_id("webhook-url").text_content()
    assert new_url != old_url and "/hooks/bots/twb_" in new_url
    assert _hook(old_url, {"action": "buy", "symbol": "AAPL"}).status_code == 404
    assert _hook(new_url, {"action": "buy", "symbol": "AAPL"}).status_code == 202

    # Following needs a published bot of another user: the error is next to the id.
    console.expect_http_error(400, "/api/bots")
    form = page.get_by_test_id("bot-form")
    form.get_by_label("Name").fill("Copycat")
    form.get_by_label("A published bot of another user").check()
    follow = form.get_by_label("Id of the bot to follow")
    follow.fill("00000000-0000-0000-0000-000000000000")
    form.get_by_role("button", name="Create bot").click()
    expect(page.locator("#bot-follow-error")).to_contain_text("No published bot")
    expect(follow).to_have_attribute("aria-invalid", "true")

    # Edit: the form shows the bot; saving changes what was changed.
    card.get_by_role("button", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit Rotator")).to_be_visible()
    expect(form.get_by_label("Name")).to_have_value("Rotator")
    form.get_by_label("Name").fill("Rotator 2")
    form.get_by_label("Max trades a day").fill("5")
    form.get_by_role("button", name="Save changes").click()
    card = _bot_card(page, "Rotator 2")
    expect(card).to_be_visible()
    (bot,) = api(page, "GET", "/api/bots")
    assert (bot["name"], bot["limits"]["max_trades_per_day"], bot["state"]) == ("Rotator 2", 5, "paper")

    card.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(card).to_be_visible()
    card.get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Yes, delete").click()
    expect(card).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="Rotator 2 deleted.")).to_be_visible()
    expect(page.get_by_test_id("bots-empty")).to_be_visible()
    assert api(page, "GET", "/api/bots") == []
    console.assert_clean()


def test_the_kill_switch_halts_bots_refuses_opening_orders_and_releases_from_any_page(page, console):
    sign_up(page, unique_email("kill"))
    connect_paper(page)
    _paper_bot(page, "Runner")
    page.goto("/bots/")
    switch = page.get_by_test_id("kill-switch")
    expect(switch).to_have_attribute("data-engaged", "false")
    expect(switch).to_contain_text("Kill switch off")
    dialog = page.get_by_role("dialog")

    switch.get_by_role("button", name="Engage kill switch").click()
    expect(dialog.get_by_label("Flatten: cancel all orders and close all positions")).not_to_be_checked()
    dialog.get_by_role("button", name="Cancel").click()
    expect(switch).to_have_attribute("data-engaged", "false")

    switch.get_by_role("button", name="Engage kill switch").click()
    dialog.get_by_role("button", name="Yes, engage").click()
    expect(switch).to_have_attribute("data-engaged", "true")
    expect(switch).to_contain_text("Kill switch ENGAGED")
    card = _bot_card(page, "Runner")
    expect(card.locator('[data-field="state"]')).to_have_text("Halted")
    expect(card.locator('[data-field="halted_reason"]')).to_contain_text("kill switch")

    # Another page reads it from the API; an opening order is refused, and the ticket says why.
    page.goto("/orders/")
    wait_live(page)
    expect(switch).to_have_attribute("data-engaged", "true")
    ticket = page.get_by_role("form", name="Order ticket")
    tif = ticket.get_by_label("Time in force")
    assert tif.locator("option").evaluate_all("os => os.map(o => o.value)") == ["", "day", "gtc", "ioc", "fok"]
    console.expect_http_error(409, "/api/brokers/user/paper/orders")
    ticket.get_by_label("Symbol").fill("AAPL")
    ticket.get_by_label("Quantity").fill("1")
    ticket.get_by_role("button", name="Place order").click()
    expect(ticket.get_by_role("alert")).to_contain_text("kill switch is engaged")

    switch.get_by_role("button", name="Release kill switch").click()
    dialog.get_by_role("button", name="Yes, release").click()
    expect(switch).to_have_attribute("data-engaged", "false")
    assert api(page, "GET", "/api/kill-switch")["engaged"] is False
    ticket.get_by_role("button", name="Place order").click()
    filled = page.get_by_role("status").filter(has_text=re.compile(r"^Buy 1 AAPL filled at \d"))
    expect(filled).to_be_visible(timeout=SETTLE_MS)
    assert api(page, "GET", "/api/bots")[0]["state"] == "halted"  # releasing restarts nothing
    console.assert_clean()
