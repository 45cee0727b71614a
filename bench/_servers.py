"""Start the web servers a benchmark compares, each on its own loopback port, and stop them.

Every server runs the same Django project with the same environment (settings module,
database, Redis) and no access log, so only the server and its worker model differ.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from config.embedded import free_port

BASE_DIR = Path(__file__).resolve().parent.parent
PY = sys.executable
ASGI_APP = "config.asgi:application"
WSGI_APP = "config.wsgi:application"


def _daphne(port: int) -> list[str]:
    return [PY, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), ASGI_APP]


def _uvicorn(workers: int) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        return [
            *(PY, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            *("--lifespan", "off", "--no-access-log", "--log-level", "warning", ASGI_APP),
        ]

    return command


def _gunicorn(*options: str) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        return [PY, "-m", "gunicorn", *options, "--bind", f"127.0.0.1:{port}", "--log-level", "warning", WSGI_APP]

    return command


def _granian(port: int) -> list[str]:
    return [
        *(PY, "-m", "granian", "--interface", "wsgi", "--workers", "2", "--blocking-threads", "1"),
        *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log", WSGI_APP),
    ]


# name -> (command for a port, what it is, environment it adds). Persistent database
# connections only under WSGI, where a worker thread lives as long as its process; an ASGI
# server's executor threads come and go, so they keep DB_CONN_MAX_AGE=0 (as README "Production").
_PERSISTENT_DB = {"DB_CONN_MAX_AGE": "60"}
SERVERS = {
    "daphne": (_daphne, "Daphne, ASGI, 1 process", {}),
    "uvicorn-w1": (_uvicorn(1), "uvicorn, ASGI, 1 process", {}),
    "uvicorn-w2": (_uvicorn(2), "uvicorn, ASGI, --workers 2", {}),
    "gunicorn-sync-w2": (_gunicorn("--workers", "2"), "gunicorn, WSGI, 2 sync workers", _PERSISTENT_DB),
    "gunicorn-gthread-w2": (
        _gunicorn("--workers", "2", "--worker-class", "gthread", "--threads", "4", "--keep-alive", "30"),
        "gunicorn, WSGI, 2 workers x 4 threads (gthread, keep-alive)",
        _PERSISTENT_DB,
    ),
    "granian-wsgi-w2": (_granian, "granian, WSGI, 2 workers x 1 thread", _PERSISTENT_DB),
}


def _answers(url: str) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200
    return False


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class Running:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server and all its worker processes."""
        root = psutil.Process(self.pid)
        total = 0.0
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total


@contextlib.contextmanager
def serving(name: str, *, env: dict[str, str], ready_path: str, log: Path, timeout: float = 60) -> Iterator[Running]:
    """Run server `name` until the block ends; yield it once `ready_path` answers 200."""
    command, _, extra_env = SERVERS[name]
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command(port), cwd=BASE_DIR, env={**env, **extra_env}, stdout=out, stderr=out, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not (port_open(port) and _answers(base + ready_path)):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
                raise RuntimeError(f"{name} did not start (exit code {proc.poll()}): {tail}")
            time.sleep(0.2)
        yield Running(url=base, pid=proc.pid)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 15 s, then whatever is left in the server's own session."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    # The server was started in its own session: end any worker it left behind, and only those.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
