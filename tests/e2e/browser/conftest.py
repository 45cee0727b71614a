"""The browser suite: the real app (Daphne, a Celery worker, beat) on a free port, driven by Chromium.

The app runs as subprocesses against its own migrated SQLite file, so these tests never touch
pytest-django's test database; they share the test run's Redis (REDIS_URL), which the
`shared_redis` marker keeps tests/conftest.py from flushing between them. Everything is
package-scoped: started once for the suite, stopped before any other package runs (another
package's in-process Celery worker must not compete with this one for the queue).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from config.embedded import free_port
from config.redis import get_redis
from tests.processes import BASE_DIR, app_database, port_open, stop, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}


# --- the app -------------------------------------------------------------------------------


@dataclass
class RunningApp:
    """web + worker + beat on one SQLite file; `stop_web()` and `start_web()` keep the port."""

    tmp: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def _spawn(self, name: str, *args: str) -> None:
        with self.log(name).open("ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, *args], cwd=BASE_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def _spawn_web(self) -> None:
        self._spawn(
            "web",
            *("-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)),
            *("--websocket_connect_timeout", "30", "config.asgi:application"),
        )

    def start_web(self) -> None:
        self._spawn_web()
        web = self.procs["web"]
        wait_for(lambda: web.poll() is None and port_open(self.port), timeout=60, what=f"daphne on {self.port}")

    def stop_web(self) -> None:
        stop(self.procs.pop("web"))
        wait_for(lambda: not port_open(self.port), timeout=10, what="the web port to close")

    def start(self) -> None:
        self._spawn_web()  # all three boot Django at once; /health waits for them
        # One solo worker on the default queue (config/celery.py routes nothing elsewhere).
        self._spawn(
            "worker", "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", "celery", "-l", "WARNING"
        )
        self._spawn("beat", "-m", "celery", "-A", "config", "beat", "-s", str(self.tmp / "beat"), "-l", "WARNING")
        wait_for(self._healthy, timeout=60, interval=0.5, what="/health with the worker's heartbeat")

    def _healthy(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")
        checks = httpx.get(f"{self.url}/health", timeout=5).json()["checks"]
        return checks == {"database": "ok", "redis": "ok", "celery": "ok"}

    def stop(self) -> None:
        for name in ("beat", "worker", "web"):
            if name in self.procs:
                stop(self.procs.pop(name))

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.log(name)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@pytest.fixture(scope="package")
def chromium() -> Path:
    """Fail (never skip): a missing browser is a broken test machine, not an optional extra."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}; the browser suite needs Debian's chromium "
            "(sudo apt-get install -y chromium). `.ci/run` installs it on CI.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="package")
def app(chromium, tmp_path_factory) -> Iterator[RunningApp]:
    tmp = tmp_path_factory.mktemp("browser-app")
    # Start from an empty Redis, as every other test does: tasks an earlier test queued for its
    # own database must not reach this app's worker. Between these tests nothing is flushed.
    get_redis().flushdb()
    with app_database(tmp) as (db_env, _key):
        env = {**os.environ, **db_env, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"}
        running = RunningApp(tmp=tmp, env=env)
        try:
            running.start()
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="package")
def browser(chromium) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


# --- console and page errors -----------------------------------------------------------------


@dataclass
class ConsoleWatch:
    """Console errors and uncaught exceptions of every page in a context.

    Chromium itself logs a failed HTTP response ("Failed to load resource: ... status of 400")
    and a refused WebSocket as console errors; a test that provokes one on purpose declares it
    (`expect_http_error`, `expect_websocket_failures`), and only messages of that shape are allowed.
    """

    problems: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)
    forgiven: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught {error.name}: {error.message}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        text = f"console.error: {message.text} ({where})"
        if any(p.search(text) for p in self.expected):
            self.forgiven.append(text)
        else:
            self.problems.append(text)

    def expect_http_error(self, status: int, path: str) -> None:
        """The browser will log this API answer as a failed resource; it is the point of the test."""
        self.expected.append(re.compile(rf"status of {status} .*\(https?://[^/]+{re.escape(path)}\)$"))

    def expect_websocket_failures(self) -> None:
        self.expected.append(re.compile(r"console\.error: WebSocket connection to '[^']+/ws/' failed"))

    def assert_clean(self) -> None:
        assert not self.problems, "the page logged errors:\n" + "\n".join(self.problems)


@pytest.fixture
def console() -> ConsoleWatch:
    return ConsoleWatch()


@pytest.fixture
def context(browser, app, console) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=app.url, viewport=DESKTOP)
    ctx.set_default_timeout(10_000)
    ctx.set_default_navigation_timeout(30_000)
    ctx.on("page", console.attach)
    yield ctx
    ctx.close()


_CHECKS: list[tuple[str, ConsoleWatch]] = []


@pytest.fixture
def page(context, console, request) -> Iterator[Page]:
    """A desktop-sized page; after the test, it must have logged no errors (see ConsoleWatch)."""
    tab = context.new_page()
    yield tab
    _CHECKS.append((request.node.name, console))
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.passed:
        console.assert_clean()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _CHECKS:
        return
    terminalreporter.section("browser console")
    for name, watch in _CHECKS:
        forgiven = f", {len(watch.forgiven)} expected network message(s) allowed" if watch.forgiven else ""
        terminalreporter.write_line(f"{name}: {len(watch.problems)} console/page error(s){forgiven}")
        for text in watch.forgiven:
            terminalreporter.write_line(f"    allowed: {text}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    running = item.funcargs.get("app") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(running, RunningApp):
        for name in ("web", "worker", "beat"):
            report.sections.append((f"{name} log (tail)", running.tail(name)))
    return report
