"""The fan-out benchmarks' WebSocket client process: many sockets, driven over stdin/stdout.

`python -m bench._fanout_client URL --symbols AAPL,MSFT [--compression deflate|none]` (the token,
if any, comes in the FANOUT_TOKEN environment variable, never on a command line). It reads one
JSON command per line on stdin and answers each with one JSON line on stdout:

- `{"op": "connect", "count": N, "batch": B}`: open N more sockets, B handshakes at a time; each
  waits for `ready`, subscribes to the symbols and waits for `subscribed`.
- `{"op": "reset", "since": T}`: forget everything measured; from now on count only quotes whose
  `as_of` is at or after T (epoch seconds), so snapshots sent on subscribe are never counted.
- `{"op": "report"}`: what was measured since the reset (see `Tally.report`).
- `{"op": "stop"}`: close every socket and exit (so does the end of stdin: the driver died).

Between commands it prints `{"op": "all", "as_of": ..., "last": ...}` the moment every open
socket has received every symbol's quote of one `as_of`: the driver publishes the next quote then.
Latency is arrival (wall clock, taken right after the frame is read) minus the quote's `as_of`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import sys
import time
from collections import Counter
from datetime import datetime
from typing import Any

import websockets

QUOTE_PREFIX = '{"event": "watchlist:quote"'
BIN_SECONDS = 0.0001  # latency histogram resolution: 0.1 ms


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Socket:
    """One client socket's counts since the reset."""

    __slots__ = ("duplicates", "last", "received", "regressions")

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.received = 0
        self.last: dict[str, float] = {}  # symbol -> newest as_of seen
        self.regressions = 0  # an older quote after a newer one (the coalescing guarantee broken)
        self.duplicates = 0  # the same quote twice


class Tally:
    """Everything measured in this process since the last reset."""

    def __init__(self, symbols: int) -> None:
        self.symbols = symbols
        self.since = float("inf")
        self.times: dict[str, float] = {}  # as_of text -> epoch seconds (parsed once)
        self.sockets: list[Socket] = []
        self.dead = 0  # sockets the server closed, ever
        self.reset(float("inf"))

    def reset(self, since: float) -> None:
        self.since = since
        self.per_quote: dict[str, list[float]] = {}  # as_of -> [frames, first arrival, last arrival]
        self.histogram: Counter[int] = Counter()
        for sock in self.sockets:
            sock.clear()
        self.lost_sockets = 0

    def as_of(self, text: str) -> float:
        found = self.times.get(text)
        if found is None:
            found = self.times[text] = datetime.fromisoformat(text).timestamp()
        return found

    def record(self, sock: Socket, symbol: str, as_of_text: str, arrived: float) -> None:
        as_of = self.as_of(as_of_text)
        if as_of < self.since:
            return
        previous = sock.last.get(symbol)
        if previous is not None and as_of <= previous:
            if as_of < previous:
                sock.regressions += 1
            else:
                sock.duplicates += 1
            return
        sock.last[symbol] = as_of
        sock.received += 1
        self.histogram[int((arrived - as_of) / BIN_SECONDS)] += 1
        entry = self.per_quote.get(as_of_text)
        if entry is None:
            entry = self.per_quote[as_of_text] = [0, arrived, arrived]
        entry[0] += 1
        entry[2] = arrived
        if entry[0] == (len(self.sockets) - self.dead) * self.symbols:
            emit({"op": "all", "as_of": as_of_text, "last": arrived})

    def report(self) -> dict[str, Any]:
        return {
            "op": "report",
            "open": len(self.sockets) - self.dead,
            "lost_sockets": self.lost_sockets,
            "per_quote": self.per_quote,
            "histogram": {str(k): v for k, v in self.histogram.items()},
            "received": [s.received for s in self.sockets],
            "regressions": sum(s.regressions for s in self.sockets),
            "duplicates": sum(s.duplicates for s in self.sockets),
            "cpu_s": round(time.process_time(), 3),
        }


def quote_key(frame: str) -> tuple[str, str]:
    """(symbol, as_of) of a quote frame: a string scan is 6x cheaper than json.loads, and this
    process's own cost per frame is what limits how much load it can measure."""
    try:
        start = frame.index('"symbol": "') + 11
        symbol = frame[start : frame.index('"', start)]
        start = frame.index('"as_of": "') + 10
        return symbol, frame[start : frame.index('"', start)]
    except ValueError:  # laid out differently: parse it properly
        data = json.loads(frame)["data"]
        return data["symbol"], data["as_of"]


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class Client:
    def __init__(self, args: argparse.Namespace) -> None:
        self.url = args.url
        self.symbols = args.symbols.split(",")
        token = os.environ.get("FANOUT_TOKEN")
        self.headers = {"Authorization": f"Token {token}"} if token else {}
        self.compression = None if args.compression == "none" else "deflate"
        self.tally = Tally(len(self.symbols))
        self.connections: list[Any] = []
        self.readers: list[asyncio.Task[None]] = []
        self.extensions: Counter[str] = Counter()
        self.stopping = False

    async def open_one(self) -> None:
        ws = await websockets.connect(
            self.url,
            additional_headers=self.headers,
            open_timeout=60,
            ping_interval=None,  # browsers never ping; the servers ping us
            compression=self.compression,
            max_size=2**20,
        )
        try:
            await self._handshake(ws)
        except BaseException:
            await ws.close()
            raise
        self.extensions[ws.response.headers.get("Sec-WebSocket-Extensions", "") or "none"] += 1
        sock = Socket()
        self.connections.append(ws)
        self.tally.sockets.append(sock)
        self.readers.append(asyncio.create_task(self._read(ws, sock)))

    async def _handshake(self, ws: Any) -> None:
        ready = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if ready.get("event") != "ready":
            raise RuntimeError(f"expected ready, got {ready!r:.200}")
        await ws.send(json.dumps({"action": "subscribe", "symbols": self.symbols}))
        for _ in range(len(self.symbols) + 5):  # `subscribed`, possibly after earlier quotes
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if message.get("event") == "subscribed":
                return
        raise RuntimeError("no `subscribed` reply")

    async def _read(self, ws: Any, sock: Socket) -> None:
        tally, clock = self.tally, time.time
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                arrived = clock()
                if raw.startswith(QUOTE_PREFIX):
                    tally.record(sock, *quote_key(raw), arrived)
        if not self.stopping:
            tally.lost_sockets += 1
            tally.dead += 1

    async def connect(self, count: int, batch: int) -> dict[str, Any]:
        started, failures = time.monotonic(), Counter[str]()
        for first in range(0, count, batch):
            size = min(batch, count - first)
            outcomes = await asyncio.gather(*(self.open_one() for _ in range(size)), return_exceptions=True)
            failures.update(type(o).__name__ for o in outcomes if isinstance(o, BaseException))
        return {
            "op": "connected",
            "open": len(self.connections),
            "failed": dict(failures),
            "seconds": round(time.monotonic() - started, 2),
            "extensions": dict(self.extensions),
        }

    async def stop(self, batch: int = 250) -> None:
        """Drop the sockets a batch at a time: thousands of disconnects at once are a storm of their own."""
        self.stopping = True
        for first in range(0, len(self.connections), batch):
            for ws in self.connections[first : first + batch]:
                ws.transport.abort()
            await asyncio.sleep(0.1)
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


async def serve_commands(client: Client) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():  # EOF: the driver went away
        command = json.loads(line)
        if command["op"] == "connect":
            emit(await client.connect(int(command["count"]), int(command.get("batch", 100))))
        elif command["op"] == "reset":
            client.tally.reset(float(command["since"]))
            emit({"op": "reset"})
        elif command["op"] == "report":
            emit(client.tally.report())
        elif command["op"] == "stop":
            break
    await client.stop()
    emit({"op": "stopped"})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._fanout_client")
    parser.add_argument("url")
    parser.add_argument("--symbols", required=True, help="comma list every socket subscribes to")
    parser.add_argument("--compression", choices=["deflate", "none"], default="deflate")
    args = parser.parse_args(argv)
    raise_fd_limit()
    # Measuring equipment must not pause: the cyclic collector's full passes over thousands of
    # sockets' objects stop this loop for tens of ms. Nothing here lives long enough to matter.
    gc.disable()
    client = Client(args)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve_commands(client))
    else:
        uvloop.run(serve_commands(client))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))
