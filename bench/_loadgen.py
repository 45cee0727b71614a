"""A small HTTP/1.1 load generator: N keep-alive connections, each sending one GET at a time.

Run as its own process (`python -m bench._loadgen URL ...`) so it never shares a core's
event loop with the server it measures; prints one JSON object with the figures.
Raw asyncio protocols on uvloop (when installed) rather than an HTTP client library: one
core then pushes tens of thousands of requests a second, far above what the servers
measured here answer. A `Connection: close` response (gunicorn's sync workers do not keep
connections alive) is followed by a reconnect, whose time counts in the next request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit


class _Connection(asyncio.Protocol):
    """One client connection; `request()` sends the prepared request and awaits the response."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bool]] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None and not self.waiter.done():
            parsed = _parse(self.buffer)
            if parsed is not None:
                status, close, consumed = parsed
                del self.buffer[:consumed]
                self.waiter.set_result((status, close))

    def request(self, raw: bytes) -> asyncio.Future[tuple[int, bool]]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self.waiter


def _parse(buffer: bytearray) -> tuple[int, bool, int] | None:
    """(status, server closes, bytes consumed) of a complete response at the buffer's start."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    status = int(head[9:12])
    close = b"\r\nconnection: close" in head
    start = end + 4
    marker = head.find(b"\r\ncontent-length:")
    if marker >= 0:
        line_end = head.find(b"\r\n", marker + 2)
        length = int(head[marker + 17 : line_end if line_end >= 0 else len(head)])
        return (status, close, start + length) if len(buffer) >= start + length else None
    if b"\r\ntransfer-encoding: chunked" in head:
        done = buffer.find(b"\r\n0\r\n\r\n", start - 2)
        return (status, close, done + 7) if done >= 0 else None
    return status, True, len(buffer)  # no framing: the body ends with the connection


async def _client(
    host: str, port: int, raw: bytes, stop_at: float, record: list[tuple[float, float, int]], errors: list[str]
) -> None:
    loop = asyncio.get_running_loop()
    connection: _Connection | None = None
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        try:
            if connection is None or connection.closed:
                _, connection = await loop.create_connection(_Connection, host, port)
            status, close = await connection.request(raw)
        except (OSError, ConnectionError) as exc:
            errors.append(type(exc).__name__)
            connection = None
            await asyncio.sleep(0.01)
            continue
        finished = time.perf_counter()
        record.append((finished, finished - started, status))
        if close and connection.transport is not None:
            connection.transport.close()
            connection = None
    if connection is not None and connection.transport is not None:
        connection.transport.close()


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


async def run(url: str, *, concurrency: int, warmup: float, duration: float, headers: list[str]) -> dict[str, object]:
    """Load `url` for warmup + duration seconds; figures cover the `duration` window only."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1", f"Host: {parts.netloc}"]
    raw = ("\r\n".join([*lines, *headers, "Accept: application/json", "", ""])).encode("latin-1")
    begin = time.perf_counter()
    window = (begin + warmup, begin + warmup + duration)
    record: list[tuple[float, float, int]] = []
    errors: list[str] = []
    tasks = [asyncio.create_task(_client(host, port, raw, window[1], record, errors)) for _ in range(concurrency)]
    # Bounded: a request still outstanding a few seconds after the window is abandoned.
    _, pending = await asyncio.wait(tasks, timeout=warmup + duration + 5)
    for task in pending:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*pending, return_exceptions=True)
    measured = [(latency, status) for done, latency, status in record if window[0] <= done < window[1]]
    latencies = sorted(latency for latency, _ in measured)
    statuses: dict[str, int] = {}
    for _, status in measured:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "url": url,
        "concurrency": concurrency,
        "duration_s": duration,
        "requests": len(measured),
        "requests_with_warmup": len(record),
        "rps": round(len(measured) / duration, 1),
        "p50_ms": round(_percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "statuses": statuses,
        "connection_errors": len(errors),
        "abandoned": len(pending),
        "generator_cpu_s": round(time.process_time(), 3),
    }


def _event_loop_run(coroutine: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._loadgen")
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("-H", "--header", action="append", default=[])
    args = parser.parse_args(argv)
    # Secrets (an API token) come by environment, not on a command line other users can read.
    args.header += [line for line in os.environ.get("LOADGEN_HEADERS", "").splitlines() if line.strip()]
    result = _event_loop_run(
        run(args.url, concurrency=args.concurrency, warmup=args.warmup, duration=args.duration, headers=args.header)
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
