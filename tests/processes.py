"""Start the project's real processes (ASGI servers, the runner, workers) for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from config.embedded import free_port
from realtime.wsprotocol import UVICORN_OPTIONS

BASE_DIR = Path(__file__).resolve().parent.parent


def wait_for(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = predicate()
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def asgi_server(env: dict[str, str], *, server: str = "daphne") -> Iterator[str]:
    """Serve config.asgi on a free loopback port with the given environment; yield its base URL."""
    port = free_port()
    if server == "daphne":
        cmd = [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "--websocket_connect_timeout",
            "30",
            "config.asgi:application",
        ]
    else:
        # As production runs it (README "Production").
        options = ("--port", str(port), "--log-level", "warning", *UVICORN_OPTIONS)
        cmd = [sys.executable, "-m", "uvicorn", *options, "config.asgi:application"]
    proc = subprocess.Popen(cmd, cwd=BASE_DIR, env={**os.environ, **env})
    try:
        wait_for(lambda: proc.poll() is None and port_open(port), timeout=60, what=f"{server} on {port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def get_json(url: str, **kwargs) -> tuple[int, dict]:
    response = httpx.get(url, timeout=10, **kwargs)
    return response.status_code, response.json()


@contextlib.contextmanager
def app_database(tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """A migrated SQLite file with the demo user; yields (env for servers, an API token of the demo user)."""
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/app.sqlite3",
        "DEMO_PASSWORD": "demo-pass-123",
    }

    def manage(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return result.stdout

    manage("migrate", "--noinput", "-v", "0")
    manage("ensure_demo")
    key = manage("create_api_token", "demo@example.com").strip().splitlines()[-1]
    yield {k: env[k] for k in ("DATA_DIR", "DATABASE_URL")}, key
