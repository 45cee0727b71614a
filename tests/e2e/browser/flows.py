"""Steps the browser tests share: sign up, log in, call the API as the page does, screenshots."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from tests.processes import BASE_DIR

SCREENSHOTS = BASE_DIR / "docs" / "screenshots"
DEMO = ("demo@example.com", "demo-pass-123")  # made by tests.processes.app_database
PASSWORD = "Correct-horse-battery-9"
DASHBOARD_URL = re.compile(r"^https?://[^/]+/$")


def unique_email(prefix: str) -> str:
    return f"{prefix}-{os.urandom(4).hex()}@example.com"


def sign_up(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/signup/")
    page.locator('input[name="email"]').fill(email)
    page.locator('input[name="password1"]').fill(password)
    page.locator('input[name="password2"]').fill(password)
    page.locator('form:has(input[name="password2"]) [type="submit"]').click()
    on_dashboard(page)


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.locator('input[name="login"]').fill(email)
    page.locator('input[name="password"]').fill(password)
    page.locator('form:has(input[name="password"]) [type="submit"]').click()
    on_dashboard(page)


def on_dashboard(page: Page) -> None:
    page.wait_for_url(DASHBOARD_URL)
    page.get_by_role("heading", name="Dashboard", level=1).wait_for()


def api(page: Page, method: str, path: str, body: dict | None = None) -> Any:
    """Call the JSON API with the page's session and CSRF cookie, as the page's own scripts do."""
    csrf = next((c["value"] for c in page.context.cookies() if c["name"] == "csrftoken"), "")
    response = page.request.fetch(
        path, method=method, data=body, headers={"X-CSRFToken": csrf, "Content-Type": "application/json"}
    )
    assert response.ok, f"{method} {path}: {response.status} {response.text()}"
    return response.json() if response.status != 204 else None


def connect_paper(page: Page) -> dict:
    """The paper broker, connected through the API (the wizard has a test of its own)."""
    return api(page, "POST", "/api/brokers/configure", {"broker": "paper", "credentials": {}, "paper": True})


def wait_live(page: Page, timeout: float = 20_000) -> None:
    """Wait for the page's WebSocket to be up."""
    page.locator('[data-testid="connection-status"][data-status="live"]').wait_for(timeout=timeout)


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), animations="disabled")
    return path


class SocketFrames:
    """The JSON frames a page's WebSockets send and receive; create it before navigating."""

    def __init__(self, page: Page) -> None:
        self.sent: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        page.on("websocket", self._opened)

    def _opened(self, ws: Any) -> None:
        ws.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
        ws.on("framereceived", lambda payload: self.received.append(json.loads(payload)))

    def actions(self) -> list[tuple[str, list[str]]]:
        return [(frame["action"], frame.get("symbols", [])) for frame in self.sent]

    def wait_for_action(self, page: Page, action: tuple[str, list[str]], timeout_ms: int = 5_000) -> None:
        for _ in range(timeout_ms // 100):
            if action in self.actions():
                return
            page.wait_for_timeout(100)  # Playwright delivers frame events only while it is called
        raise AssertionError(f"the page never sent {action}; it sent {self.actions()}")
