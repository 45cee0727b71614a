"""Baseline (b): a bare `websockets` server broadcasting each quote to its subscribers.

`python -m bench.baselines.ws_broadcast --port PORT --channel CHANNEL` (REDIS_URL from the
environment). It speaks only the part of /ws/ the fan-out client uses: `ready` on connect,
`subscribe` answered by `subscribed`, then `watchlist:quote` frames in the same envelope as the
app's. Quotes arrive the way the app's do (one Redis pub/sub message per publish, a JSON list of
quote payloads); each frame is encoded once and written with `websockets.broadcast`: no
per-socket queue, no coalescing, no framework. The floor any fan-out can be compared with, so
it runs on uvloop, as uvicorn runs the app (`--loop asyncio` for the default loop).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import websockets
from redis.asyncio import Redis
from websockets.asyncio.server import ServerConnection, serve

subscribers: dict[str, set[ServerConnection]] = defaultdict(set)


def envelope(event: str, data: dict[str, Any]) -> str:
    ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"event": event, "data": data, "ts": ts})


async def handler(ws: ServerConnection) -> None:
    mine: list[str] = []
    await ws.send(envelope("ready", {"user_id": 0, "tier": "bench"}))
    try:
        async for raw in ws:
            message = json.loads(raw)
            if message.get("action") == "subscribe":
                for symbol in message["symbols"]:
                    subscribers[symbol].add(ws)
                    mine.append(symbol)
                await ws.send(envelope("subscribed", {"symbols": mine}))
    except websockets.ConnectionClosed:
        pass
    finally:
        for symbol in mine:
            subscribers[symbol].discard(ws)


async def relay(channel: str) -> None:
    client = Redis.from_url(os.environ["REDIS_URL"])
    async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
        await pubsub.subscribe(channel)
        async for message in pubsub.listen():
            for quote in json.loads(message["data"]):
                members = subscribers.get(quote["symbol"])
                if members:
                    websockets.broadcast(members, envelope("watchlist:quote", quote))


async def run(port: int, channel: str) -> None:
    async with serve(handler, "127.0.0.1", port, max_size=2**16, backlog=4096):
        await relay(channel)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baselines.ws_broadcast")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.loop == "uvloop":  # the loop uvicorn runs the app on: the floor must not be slower than that
        import uvloop

        uvloop.run(run(args.port, args.channel))
    else:
        asyncio.run(run(args.port, args.channel))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
