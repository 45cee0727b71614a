"""Sustained fan-out load: 1,000 clients x 20 symbols, every symbol ticking once a second.

`python -m bench fanout_load [--clients 1000] [--duration 30] [--servers ...] [--processes 2]`

20 symbols of the paper market; every socket subscribes to all 20. Once a second the driver
publishes the 20 changed quotes in ONE publish (as the quote poller does), so a server must
deliver 20,000 frames/s. Servers in turn, each one process on loopback: the app
(`config.asgi:application` wrapped by bench/_fanout_probe.py, which only adds a read-only probe
of the hub's counts) under uvicorn and under Daphne, and the bare `websockets` broadcast
server, which also gives the client processes' own ceiling (a short ramp to 2x and 3x the
rate). Per server: frames/s delivered, latency (arrival - as_of) p50/p99 over every frame,
frames expected vs received per client, the hub's coalesced count, and the client-side check
that no socket ever receives an older quote of a symbol after a newer one. Results: stdout and
bench/results/fanout_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import urllib.request
from typing import Any

from bench._fanout_common import (
    CpuMeter,
    Prices,
    app_context,
    histogram_merge,
    histogram_percentile,
    machine,
    ms,
    percentile,
    progress,
    run_and_save,
    say,
    wait_for_quiet,
)
from bench._fanout_pool import ClientPool
from bench._fanout_servers import BASE_DIR, KINDS, Publisher, Server, serving

RESULTS = BASE_DIR / "bench" / "results" / "fanout_load.json"
SERVERS = ("websockets", "tradewire-uvicorn", "tradewire-daphne")
PROBE_APP = "bench._fanout_probe:application"
TARGET_FPS = 20_000
TARGET_P99_MS = 250.0


def symbols(count: int) -> list[str]:
    from brokers.adapters.paper.universe import symbols as listed

    return list(listed()[:count])


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench fanout_load", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--symbols", type=int, default=20, help="symbols per client, all ticking (default 20)")
    parser.add_argument("--duration", type=int, default=30, help="measured seconds (default 30)")
    parser.add_argument("--rate", type=float, default=1.0, help="ticks a second, each publishing every symbol (1)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured ticks first (default 3)")
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma list of {', '.join(SERVERS)}")
    parser.add_argument("--ramp", default="2,3", help="extra tick rates/s for the client ceiling (bare server)")
    parser.add_argument("--processes", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--batch", type=int, default=100, help="handshakes at a time per client process")
    parser.add_argument("--quiet-wait", type=float, default=60, help="most seconds to wait for an idle machine")
    parser.add_argument("--compression", choices=["deflate", "none"], default="deflate",
                        help="what the clients offer (default deflate, as browsers do)")  # fmt: skip
    args = parser.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if unknown := set(args.servers) - set(SERVERS):
        parser.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    args.ramp = [float(r) for r in args.ramp.split(",") if r.strip()]
    return args


def _hub(server: Server) -> dict[str, int] | None:
    if not server.kind.startswith("tradewire"):
        return None
    url = f"http://127.0.0.1:{server.port}/__bench__/hub"
    with urllib.request.urlopen(url, timeout=10) as response:
        return dict(json.loads(response.read()))


async def _ticks(publisher: Publisher, names: list[str], *, count: int, rate: float) -> list[str]:
    """`count` publishes of every symbol, `rate` a second on a fixed schedule (no drift)."""
    loop, prices, sent = asyncio.get_running_loop(), Prices(), []
    start = loop.time()
    for tick in range(count):
        await asyncio.sleep(max(0.0, start + tick / rate - loop.time()))
        sent.append(await publisher.publish(prices.next(names)))
    return sent


async def _window(server: Server, pool: ClientPool, publisher: Publisher, names: list[str], *, ticks: int,
                  rate: float, args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    """One measured window: reset, publish, drain (bounded), then every figure of it."""
    await pool.reset(time.time())
    hub_before, started = _hub(server), time.monotonic()
    meter = CpuMeter(
        {"server": [server.proc.pid], "clients": pool.pids, "driver": [os.getpid()], "redis": publisher.redis_pids}
    )
    sent = await _ticks(publisher, names, count=ticks, rate=rate)
    publishing = time.monotonic() - started
    await _drain(pool, sent[-1], timeout=3.0)
    cpu, hub_after = meter.read(), _hub(server)
    reports = await pool.report()
    row = _figures(reports, sent, names, seconds=ticks / rate, clients=args.clients)
    row.update(rate_per_s=rate, ticks=ticks, publishing_s=round(publishing, 2), rss_mb=round(server.rss() / 2**20, 1))
    row["cpu_cores"] = {k: round(v / cpu["wall"], 2) for k, v in cpu.items() if k != "wall"}
    row["server_cpu_us_per_frame"] = round(cpu["server"] * 1e6 / max(1, row["received"]), 1)
    row["client_cpu_us_per_frame"] = round(cpu["clients"] * 1e6 / max(1, row["received"]), 1)
    if hub_before and hub_after:
        counts = ("received", "sent", "coalesced", "gc_collections", "gc_full_collections", "gc_ms")
        row["hub"] = {k: round(hub_after[k] - hub_before[k], 1) for k in counts}
        row["hub"].update(outboxes=hub_after["outboxes"], dead_outboxes=hub_after["dead_outboxes"])
        row["hub"]["gc_longest_ms"] = hub_after["gc_longest_ms"]
        row["hub"]["pending_at_end"] = hub_after["pending"]
    return row


async def _drain(pool: ClientPool, last: str, *, timeout: float) -> None:
    """Wait until the last tick reached every socket, or `timeout` (coalescing may have dropped some)."""
    await pool.wait_complete(last, timeout=timeout)
    await asyncio.sleep(0.3)


def _figures(reports: list[dict[str, Any]], sent: list[str], names: list[str], *, seconds: float,
             clients: int) -> dict[str, Any]:  # fmt: skip
    received_per_client = [n for r in reports for n in r["received"]]
    expected_each = len(sent) * len(names)
    received = sum(received_per_client)
    histogram = histogram_merge(reports)
    last = sorted(
        max(r["per_quote"][a][2] for r in reports if a in r["per_quote"]) - _stamp(a)
        for a in sent
        if any(a in r["per_quote"] for r in reports)
    )
    return {
        "open": sum(r["open"] for r in reports),
        "lost_sockets": sum(r["lost_sockets"] for r in reports),
        "expected": expected_each * clients,
        "received": received,
        "dropped": expected_each * clients - received,
        "clients_with_drops": sum(n < expected_each for n in received_per_client),
        "fewest_received_by_a_client": min(received_per_client, default=0),
        "frames_per_s": round(received / seconds),
        "p50_ms": round(histogram_percentile(histogram, 0.50), 1),
        "p99_ms": round(histogram_percentile(histogram, 0.99), 1),
        "max_ms": round(histogram_percentile(histogram, 1.0), 1),
        "tick_last_p50_ms": ms(percentile(last, 0.5)),
        "tick_last_p99_ms": ms(percentile(last, 0.99)),
        "regressions": sum(r["regressions"] for r in reports),
        "duplicates": sum(r["duplicates"] for r in reports),
    }


def _stamp(as_of: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(as_of).timestamp()


async def _server(kind: str, ctx: Any, args: argparse.Namespace) -> dict[str, Any]:
    names = symbols(args.symbols)
    app = PROBE_APP if kind.startswith("tradewire") else ""
    progress(f"{kind}: {KINDS[kind]}")
    with serving(kind, env=ctx.env, log=ctx.logs / f"{kind}.log", app=app) as server:
        pool = await ClientPool.start(
            server.url, symbols=names, token=ctx.token, processes=args.processes,
            compression=args.compression, log=ctx.logs / "clients.log",
        )  # fmt: skip
        publisher = Publisher(server, ctx.redis_url)
        try:
            started = time.monotonic()
            answers = await pool.connect(args.clients, batch=args.batch, timeout=240)
            connect_s = round(time.monotonic() - started, 1)
            progress(f"  {sum(a['open'] for a in answers):,} sockets open after {connect_s} s")
            await pool.reset(time.time())
            await _ticks(publisher, names, count=int(args.warmup * args.rate), rate=args.rate)
            ticks = int(args.duration * args.rate)
            result = {"load": await _window(server, pool, publisher, names, ticks=ticks, rate=args.rate, args=args)}
            result["load"].update(connect_s=connect_s, extensions=answers[0]["extensions"])
            _say_row(f"{args.rate:g} tick/s", result["load"])
            if kind == "websockets":
                for factor in args.ramp:  # the client ceiling: how far past 1x the clients keep up
                    rate = factor * args.rate
                    row = await _window(server, pool, publisher, names, ticks=int(5 * rate), rate=rate, args=args)
                    result[f"ramp_{factor:g}x"] = row
                    _say_row(f"{factor:g}x ({rate:g} ticks/s, client ceiling)", row)
            return result
        finally:
            await pool.close()
            await publisher.close()
            progress("  clients stopped")


def _say_row(label: str, row: dict[str, Any]) -> None:
    progress(
        f"  {label}: {row['frames_per_s']:,} frames/s, p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms,"
        f" dropped {row['dropped']:,}; server {row['cpu_cores']['server']:.2f} cores,"
        f" clients {row['cpu_cores']['clients']:.2f} cores"
    )


def _verdicts(servers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per app server: >= 20,000 frames/s (99.9% of what was published: a lost socket or two aside),
    p99 <= 250 ms, and never an older quote after a newer one."""
    verdicts = {}
    for kind, result in servers.items():
        row = result.get("load")
        if not kind.startswith("tradewire") or not row:
            continue
        verdicts[kind] = {
            "frames_per_s_at_least_20000": row["frames_per_s"] >= TARGET_FPS * 0.999,
            "p99_at_most_250ms": row["p99_ms"] <= TARGET_P99_MS,
            "as_of_monotonic_per_symbol": row["regressions"] == 0,
        }
    return verdicts


_HEAD = (
    "server                 frames/s   p50 ms   p99 ms  tick-last p99   expected   received   dropped"
    "  coalesced  regressions  lost sockets  RSS MB  server cores  client cores  us/frame srv/cli"
)


def _print(report: dict[str, Any]) -> None:
    settings = report["settings"]
    say(f"\n{settings['clients']:,} clients x {settings['symbols']} symbols, 1 tick/s; latency = arrival - as_of")
    say(_HEAD)
    for kind, result in report["servers"].items():
        if "error" in result:
            say(f"{kind:<20} FAILED: {result['error']}")
            continue
        for window, row in result.items():
            label = kind if window == "load" else f"{kind} {window[5:]}"
            coalesced = row.get("hub", {}).get("coalesced", "n/a")
            say(
                f"{label:<20} {row['frames_per_s']:>10,} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f}"
                f" {row['tick_last_p99_ms']:>14.1f} {row['expected']:>10,} {row['received']:>10,}"
                f" {row['dropped']:>9,} {coalesced:>10} {row['regressions']:>12} {row['lost_sockets']:>13}"
                f" {row['rss_mb']:>7.0f} {row['cpu_cores']['server']:>13.2f} {row['cpu_cores']['clients']:>13.2f}"
                f" {row['server_cpu_us_per_frame']:>9.1f}/{row['client_cpu_us_per_frame']:.1f}"
            )
    say(f"\nTargets per app server: >= {TARGET_FPS:,} frames/s, p99 <= {TARGET_P99_MS:.0f} ms, as_of monotonic")
    for kind, verdict in report["verdicts"].items():
        say(f"  {kind}: {verdict}")


def _run(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"settings": vars(args), "machine": machine(), "servers": {}}
    say(f"fan-out load: {args.clients:,} clients x {args.symbols} symbols for {args.duration} s, "
        f"{args.processes} client processes, clients offer compression={args.compression}")  # fmt: skip
    report["background_cores_at_start"] = wait_for_quiet(args.quiet_wait)
    started = time.monotonic()
    with app_context(RESULTS.parent / "fanout_load_logs") as ctx:
        progress("scratch database ready")
        report["symbols"] = symbols(args.symbols)
        for kind in args.servers:
            try:
                report["servers"][kind] = asyncio.run(_server(kind, ctx, args))
            except (RuntimeError, OSError, TimeoutError) as exc:
                report["servers"][kind] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
                say(f"  {kind}: FAILED {report['servers'][kind]['error']}")
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    report["verdicts"] = _verdicts(report["servers"])
    return report


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    report = run_and_save(lambda: _run(args), _print, RESULTS)
    if report is None:
        return 130
    return 0 if all(v for verdict in report["verdicts"].values() for v in verdict.values()) else 1
