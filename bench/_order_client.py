"""The order benchmark's client: POSTs orders and listens for their trade events, in one process.

`python -m bench._order_client SPEC OUT`. SPEC is a JSON file written by `bench.orders`:

- `http`: the web server's base URL; `ws`: the `/ws/` URL; `tokens`: one API token per user;
- `mode`: `"closed"` (one order at a time, `gap` seconds after each answer: latency without
  queueing) or `"open"` (each order sent at its due time whatever is outstanding: a rate);
- `orders`: `[due_seconds, user_index, path, body]` (`due_seconds` is used by the open mode);
- `drain`: seconds to wait, after the last answer, for the trade events still to come;
- `connections`: at most this many HTTP connections (default 200): past that an order waits for
  one (and is sent late: the report's send lag says so), as a real client's pool would.

One WebSocket per user (token auth, as an API client connects) is opened and `ready` before the
first order. Every stamp is `time.monotonic()` (CLOCK_MONOTONIC, one clock for every process on
the machine, the simulators' included). Raw asyncio HTTP/1.1 keep-alive connections on uvloop
(`bench._loadgen`), so one core sends far more than the server answers. OUT gets
`{"posts": [[client_order_id, due, sent, answered, status]], "events": [[at, event, client_order_id,
status]], "sockets": n, "lost_sockets": n}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import websockets

from bench._loadgen import _Connection, _event_loop_run

TRADE_EVENTS = ("trade:executed", "trade:failed")


class Client:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        parts = urlsplit(spec["http"])
        self.host, self.port, self.netloc = parts.hostname or "127.0.0.1", parts.port or 80, parts.netloc
        self.idle: list[_Connection] = []
        self.open = 0  # connections open (idle or busy)
        self.freed = asyncio.Event()  # a connection went back to idle (or closed)
        self.posts: list[list[Any]] = []
        self.events: list[list[Any]] = []
        self.sockets: list[Any] = []
        self.lost_sockets = 0
        self.stopping = False

    # -- WebSockets ------------------------------------------------------------------------

    async def listen_all(self) -> list[asyncio.Task[None]]:
        tasks = []
        for first in range(0, len(self.spec["tokens"]), 50):
            batch = self.spec["tokens"][first : first + 50]
            sockets = await asyncio.gather(*(self._open(token) for token in batch))
            tasks += [asyncio.create_task(self._read(ws)) for ws in sockets]
        return tasks

    async def _open(self, token: str) -> Any:
        ws = await websockets.connect(
            self.spec["ws"], additional_headers={"Authorization": f"Token {token}"}, open_timeout=60, ping_interval=None
        )
        ready = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if ready.get("event") != "ready":
            raise RuntimeError(f"expected ready, got {ready!r:.200}")
        self.sockets.append(ws)
        return ws

    async def _read(self, ws: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                at = time.monotonic()
                message = json.loads(raw)
                if message.get("event") in TRADE_EVENTS:
                    data = message["data"]
                    self.events.append([at, message["event"], data.get("client_order_id"), data.get("status")])
        if not self.stopping:
            self.lost_sockets += 1

    # -- orders ------------------------------------------------------------------------------

    def _request(self, user: int, path: str, body: dict[str, Any]) -> bytes:
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.netloc}\r\nAuthorization: Token {self.spec['tokens'][user]}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        return head.encode() + payload

    async def _connection(self) -> _Connection:
        """An idle keep-alive connection, or a new one while fewer than `connections` are open."""
        while True:
            while self.idle:
                connection = self.idle.pop()
                if not connection.closed:
                    return connection
                self.open -= 1
            if self.open < self.spec.get("connections", 200):
                self.open += 1
                try:
                    loop = asyncio.get_running_loop()
                    _, connection = await loop.create_connection(_Connection, self.host, self.port)
                except OSError:
                    self.open -= 1
                    raise
                return connection
            self.freed.clear()
            await self.freed.wait()

    async def post(self, due: float, user: int, path: str, body: dict[str, Any]) -> None:
        raw = self._request(user, path, body)
        connection = await self._connection()
        sent = time.monotonic()
        try:
            status, close = await asyncio.wait_for(connection.request(raw), 30)
        except (OSError, ConnectionError, TimeoutError):
            status, close = 0, True
        self.posts.append([body["client_order_id"], due, sent, time.monotonic(), status])
        if close:
            with contextlib.suppress(Exception):
                connection.transport.close()  # type: ignore[union-attr]
            self.open -= 1
        else:
            self.idle.append(connection)
        self.freed.set()

    async def run_closed(self, start: float) -> None:
        for _, user, path, body in self.spec["orders"]:
            await self.post(time.monotonic() - start, user, path, body)
            await asyncio.sleep(self.spec["gap"])

    async def run_open(self, start: float) -> None:
        tasks = []
        for due, user, path, body in self.spec["orders"]:
            delay = start + due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.post(start + due, user, path, body)))
        await asyncio.wait(tasks, timeout=60)

    async def drain(self) -> None:
        """Wait for a trade event of every accepted order, at most `drain` seconds."""
        accepted = {cid for cid, *_, status in self.posts if status == 202}
        deadline = time.monotonic() + self.spec["drain"]
        while time.monotonic() < deadline:
            if accepted <= {cid for _, _, cid, _ in self.events}:
                return
            await asyncio.sleep(0.1)

    async def main(self) -> dict[str, Any]:
        readers = await self.listen_all()
        await asyncio.sleep(0.5)
        start = time.monotonic()
        await (self.run_open(start) if self.spec["mode"] == "open" else self.run_closed(start))
        await self.drain()
        self.stopping = True
        for ws in self.sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        for task in readers:
            task.cancel()
        for connection in self.idle:
            if connection.transport is not None:
                connection.transport.close()
        return {
            "start": start,
            "posts": self.posts,
            "events": self.events,
            "sockets": len(self.sockets),
            "lost_sockets": self.lost_sockets,
        }


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    result = _event_loop_run(Client(spec).main())
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
