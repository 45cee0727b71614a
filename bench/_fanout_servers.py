"""The fan-out benchmarks' servers and publishers: the app under Daphne or uvicorn, and the two baselines.

Every server is one process on a free loopback port, started in its own session with the
fd limit raised and told to die with this process (PR_SET_PDEATHSIG), so neither Ctrl-C nor
a crash of the driver leaves one behind. Each server kind has a publisher that sends quotes
the way that design does it; every publisher stamps `as_of` right before publishing.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import resource
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from bench._servers import ASGI_APP, BASE_DIR, PY, port_open, stop
from config.embedded import free_port
from realtime.wsprotocol import UVICORN_OPTIONS

APP = ASGI_APP
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here, so a child only makes the call

# name -> what it is (the table's legend)
KINDS = {
    "websockets": "baseline (b): bare websockets server, websockets.broadcast",
    "tradewire-daphne": "Tradewire config.asgi under Daphne (hub fan-out)",
    "tradewire-uvicorn": "Tradewire config.asgi under uvicorn (hub fan-out)",
    "channels-daphne": "baseline (a): bare Channels consumer, group_send, core layer, Daphne",
}


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def child_setup() -> None:
    """Runs in each child before exec: the fd limit (5,000 sockets need it), and die with the driver."""
    raise_fd_limit()
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Server:
    kind: str
    port: int
    proc: subprocess.Popen[bytes]
    channel: str = ""  # the pub/sub channel of the websockets baseline
    layer_prefix: str = ""  # the channel-layer prefix of the Channels baseline
    ps: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self.ps = psutil.Process(self.proc.pid)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def cpu(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)


def _command(kind: str, port: int, *, app: str, channel: str) -> list[str]:
    daphne = [PY, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port)]
    if kind == "tradewire-daphne":
        return [*daphne, app]
    if kind == "channels-daphne":
        return [*daphne, "bench.baselines.channels_group:application"]
    if kind == "tradewire-uvicorn":
        return [
            *(PY, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--backlog", "4096"),
            *UVICORN_OPTIONS,
            *("--lifespan", "off", "--no-access-log", "--log-level", "warning", app),
        ]
    if kind == "websockets":
        return [PY, "-m", "bench.baselines.ws_broadcast", "--port", str(port), "--channel", channel]
    raise ValueError(f"unknown server kind {kind!r}")


@contextlib.contextmanager
def serving(kind: str, *, env: dict[str, str], log: Path, app: str = APP) -> Iterator[Server]:
    """Run one server until the block ends (errors and Ctrl-C included)."""
    port, tag = free_port(), uuid.uuid4().hex[:10]
    channel, prefix = f"bench:fanout:{tag}", f"bench:fanout:{tag}:asgi"
    env = {**env, "FANOUT_LAYER_PREFIX": prefix}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            _command(kind, port, app=app, channel=channel),
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,  # Ctrl-C reaches the driver, which stops this cleanly
            preexec_fn=child_setup,  # safe here: the driver starts no threads
        )
    try:
        deadline = time.monotonic() + 60
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-800:]
                raise RuntimeError(f"{kind} did not start (exit code {proc.poll()}): {tail}")
            time.sleep(0.1)
        yield Server(kind, port, proc, channel=channel, layer_prefix=prefix)
    finally:
        stop(proc)
        if kind == "channels-daphne":
            _forget_layer_keys(prefix, env["REDIS_URL"])


def _forget_layer_keys(prefix: str, redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    with contextlib.suppress(redis.RedisError):
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    client.close()


def redis_pids(url: str) -> list[int]:
    """The Redis server's pid, when it listens on this machine (its CPU is part of every figure)."""
    port = urlsplit(url).port or 6379
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                return [conn.pid]
    return []


def quote(symbol: str, price: Decimal, as_of: datetime) -> Any:
    from brokers.adapters.base import Quote

    spread = Decimal("0.01")
    return Quote(
        symbol=symbol,
        price=price,
        bid=price - spread,
        ask=price + spread,
        change=Decimal("1.25"),
        change_pct=Decimal("0.6"),
        volume=Decimal(1_000_000),
        as_of=as_of,
        source="bench",
    )


class Publisher:
    """Publishes one batch of quotes (one per symbol) as `server`'s design does; returns the `as_of` text."""

    def __init__(self, server: Server, redis_url: str) -> None:
        self.server = server
        self.redis_url = redis_url
        self.layer: Any = None
        self.redis: Any = None
        self.redis_pids = redis_pids(redis_url)
        if server.kind == "channels-daphne":
            from channels_redis.core import RedisChannelLayer

            self.layer = RedisChannelLayer(hosts=[{"address": redis_url}], prefix=server.layer_prefix)
        elif server.kind == "websockets":
            import redis

            self.redis = redis.Redis.from_url(redis_url)

    async def publish(self, prices: dict[str, Decimal]) -> str:
        from realtime import events
        from realtime.quotes import quotes_publish

        as_of = datetime.now(UTC)  # the moment of publishing, to the microsecond
        quotes = [quote(symbol, price, as_of) for symbol, price in prices.items()]
        if self.layer is not None:
            for q in quotes:
                frame = json.dumps(events.envelope(events.WATCHLIST_QUOTE, events.watchlist_quote(q)))
                await self.layer.group_send(group_name(q.symbol), {"type": "quote.frame", "text": frame})
        elif self.redis is not None:
            self.redis.publish(self.server.channel, json.dumps([events.watchlist_quote(q) for q in quotes]))
        elif quotes_publish(quotes) != len(quotes):  # the app's own path: store, then ONE pub/sub message
            raise RuntimeError("quotes_publish skipped a quote: its price did not change")
        return str(events.watchlist_quote(quotes[0])["as_of"])

    async def close(self) -> None:
        if self.layer is not None:
            await self.layer.close_pools()
        if self.redis is not None:
            self.redis.close()


def group_name(symbol: str) -> str:
    """The Channels baseline's group of a symbol (same rule as bench/baselines/channels_group.py)."""
    return "q." + symbol.replace("/", "-")
