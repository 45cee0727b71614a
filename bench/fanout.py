"""WebSocket fan-out benchmark: one quote to N subscribers, the app against two bare baselines.

`python -m bench fanout [--sizes 1000,5000] [--quotes 20] [--servers ...] [--processes 2]`

Servers, one at a time, each one process on loopback: the app (`config.asgi:application`, a
scratch SQLite database with the demo user) under Daphne and under uvicorn; baseline (a) a bare
Channels consumer with one `group_send` per quote through the channels-redis core layer, under
Daphne; baseline (b) a bare `websockets` server calling `websockets.broadcast`. For each server
the same client processes (the `websockets` asyncio client; 2 processes by default, as the
machine has 2 cores) open N sockets in batches, all subscribed to one symbol, then grow to the
next N. Per N: 2 warm-up quotes, then `--quotes` measured ones. Each quote's `as_of` is stamped
when it is published; its figure is the time until it reached the LAST of the N sockets. The
next quote goes out once every socket has the previous one (closed loop, at most one per
`--interval`), so a slow server's figure is its delivery time, not a queue. Also reported:
sockets held, the server's RSS and CPU per delivered frame. Results: stdout and
bench/results/fanout.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import datetime
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
from bench._fanout_servers import APP, BASE_DIR, KINDS, Publisher, Server, serving

SYMBOL = "AAPL"
RESULTS = BASE_DIR / "bench" / "results" / "fanout.json"
TARGET_RATIO = 2.0  # the app's figure at 1,000 subscribers: at most 2x the bare websockets server's
TARGET_RSS_MB = 600  # 5,000 sockets held by one web process under this
OURS = ("tradewire-daphne", "tradewire-uvicorn")


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench fanout", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000", help="subscriber counts, ascending (default 1000,5000)")
    parser.add_argument("--servers", default=",".join(KINDS), help=f"comma list of {', '.join(KINDS)}")
    parser.add_argument("--quotes", type=int, default=20, help="measured quotes per size (default 20)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured quotes first (default 1)")
    parser.add_argument("--interval", type=float, default=0.5, help="least seconds between quotes (default 0.5)")
    parser.add_argument("--quote-timeout", type=float, default=5.0, help="most seconds to wait per quote")
    parser.add_argument("--processes", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--batch", type=int, default=100, help="handshakes at a time per client process")
    parser.add_argument("--quiet-wait", type=float, default=60, help="most seconds to wait for an idle machine")
    parser.add_argument("--compression", choices=["deflate", "none"], default="deflate",
                        help="what the clients offer (default deflate, as browsers do)")  # fmt: skip
    parser.add_argument("--app", default=APP, help=f"ASGI app of the tradewire rows (default {APP}; for experiments)")
    parser.add_argument("--budget", type=float, default=225, help="seconds; later phases are skipped past it")
    args = parser.parse_args(argv)
    args.sizes = sorted(int(s) for s in args.sizes.split(","))
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if unknown := set(args.servers) - set(KINDS):
        parser.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    return args


async def _quotes(count: int, pool: ClientPool, publisher: Publisher, args: argparse.Namespace) -> list[Any]:
    """Publish `count` quotes, each once the previous one reached every socket (or timed out)."""
    loop, prices, sent = asyncio.get_running_loop(), Prices(), []
    for _ in range(count):
        started = loop.time()
        as_of = await publisher.publish(prices.next([SYMBOL]))
        sent.append((as_of, await pool.wait_complete(as_of, timeout=args.quote_timeout)))
        await asyncio.sleep(max(0.0, started + args.interval - loop.time()))
    return sent


def _latencies(sent: list[tuple[str, bool]], reports: list[dict[str, Any]], size: int) -> dict[str, Any]:
    """Per measured quote: when it reached the first and the last socket, and how many got it."""
    last, first, missing = [], [], 0
    for as_of, _ in sent:
        stamp = datetime.fromisoformat(as_of).timestamp()
        entries = [r["per_quote"][as_of] for r in reports if as_of in r["per_quote"]]
        frames = sum(e[0] for e in entries)
        missing += size - frames
        if entries:
            first.append(min(e[1] for e in entries) - stamp)
            last.append(max(e[2] for e in entries) - stamp)
    last.sort()
    first.sort()
    histogram = histogram_merge(reports)
    return {
        "last_p50_ms": ms(percentile(last, 0.5)),
        "last_p99_ms": ms(percentile(last, 0.99)),
        "last_max_ms": ms(last[-1]) if last else None,
        "last_ms": [ms(x) for x in last],
        "first_p50_ms": ms(percentile(first, 0.5)),
        "socket_p50_ms": round(histogram_percentile(histogram, 0.5), 1),
        "socket_p99_ms": round(histogram_percentile(histogram, 0.99), 1),
        "quotes": len(sent),
        "incomplete_quotes": sum(not done for _, done in sent),
        "frames_missing": missing,
    }


async def _connect(pool: ClientPool, size: int, args: argparse.Namespace) -> dict[str, Any]:
    """Grow to `size` sockets, in batches; what the handshakes cost and any that failed."""
    started = time.monotonic()
    answers = await pool.connect(size, batch=args.batch, timeout=240)
    failed: dict[str, int] = {}
    for answer in answers:
        for name, count in answer["failed"].items():
            failed[name] = failed.get(name, 0) + count
    seconds = round(time.monotonic() - started, 1)
    progress(f"  {sum(a['open'] for a in answers):,} sockets open after {seconds} s")
    return {"connect_s": seconds, "failed": failed, "extensions": answers[0]["extensions"]}


async def _phase(server: Server, pool: ClientPool, publisher: Publisher, size: int, args: argparse.Namespace) -> dict:
    connected = await _connect(pool, size, args)
    await asyncio.sleep(0.5)  # let the handshake storm settle before measuring
    rss_connected = server.rss()
    await pool.reset(time.time())
    await _quotes(args.warmup, pool, publisher, args)
    await pool.reset(time.time())  # the measured quotes only, from here
    pids = {"server": [server.proc.pid], "clients": pool.pids, "driver": [os.getpid()], "redis": publisher.redis_pids}
    meter = CpuMeter(pids)
    sent = await _quotes(args.quotes, pool, publisher, args)
    cpu = meter.read()
    reports = await pool.report()
    row = _latencies(sent, reports, size)
    row.update(
        connected,
        open=sum(r["open"] for r in reports),
        lost_sockets=sum(r["lost_sockets"] for r in reports),
        rss_mb=round(max(rss_connected, server.rss()) / 2**20, 1),
        server_cpu_us_per_frame=round(cpu["server"] * 1e6 / max(1, sum(sum(r["received"]) for r in reports)), 1),
        cpu_s=cpu,
    )
    progress(
        f"  N={size:,}: last socket p50 {row['last_p50_ms']:.1f} ms, p99 {row['last_p99_ms']:.1f} ms;"
        f" {row['open']:,} open; RSS {row['rss_mb']:.0f} MB"
    )
    return row


async def _server(kind: str, ctx: Any, args: argparse.Namespace, deadline: float) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    progress(f"{kind}: {KINDS[kind]}")
    with serving(kind, env=ctx.env, log=ctx.logs / f"{kind}.log", app=args.app) as server:
        pool = await ClientPool.start(
            server.url, symbols=[SYMBOL], token=ctx.token, processes=args.processes,
            compression=args.compression, log=ctx.logs / "clients.log",
        )  # fmt: skip
        publisher = Publisher(server, ctx.redis_url)
        try:
            for size in args.sizes:
                if time.monotonic() > deadline:
                    rows[str(size)] = {"skipped": "over the time budget"}
                    continue
                rows[str(size)] = await _phase(server, pool, publisher, size, args)
        finally:
            await pool.close()
            await publisher.close()
            progress("  clients stopped")
    progress("  server stopped")
    return rows


def _ratios(servers: dict[str, dict[str, Any]]) -> None:
    """Add ours/(b) and ours/(a) to every row, in place (p50 and p99 of the last-socket time)."""
    for rows in servers.values():
        for size, row in rows.items():
            if not isinstance(row, dict):
                continue
            for base, label in (("websockets", "b"), ("channels-daphne", "a")):
                ref = servers.get(base, {}).get(size, {})
                for stat in ("p50", "p99"):
                    if ref.get(f"last_{stat}_ms") and f"last_{stat}_ms" in row:
                        row[f"ratio_{stat}_vs_{label}"] = round(row[f"last_{stat}_ms"] / ref[f"last_{stat}_ms"], 2)


def _verdicts(servers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    verdicts: dict[str, Any] = {}
    for kind in OURS:
        small, big = servers.get(kind, {}).get("1000", {}), servers.get(kind, {}).get("5000", {})
        verdicts[kind] = {
            "latency_1000_within_2x_bare": (
                None if "ratio_p50_vs_b" not in small else small["ratio_p50_vs_b"] <= TARGET_RATIO
            ),
            "rss_5000_under_600MB": None if "open" not in big else big["rss_mb"] < TARGET_RSS_MB,
            "all_5000_held": None if "open" not in big else big["open"] == 5000 and not big["lost_sockets"],
        }
    return verdicts


_HEAD = (
    "      N  server               open  last p50  last p99  socket p50  socket p99   RSS MB  CPU us/frame"
    "  p50 vs (b)  p50 vs (a)  p99 vs (b)"
)


def _print(report: dict[str, Any]) -> None:
    say("\nTime from a quote's as_of to its arrival at the LAST subscriber (ms); 'socket' = every socket's own")
    say(_HEAD)
    for size in report["settings"]["sizes"]:
        for kind, rows in report["servers"].items():
            row = rows.get(str(size), {})
            if "open" not in row:
                say(f"{size:>7,}  {kind:<18} {row.get('skipped') or row.get('error', 'not run')}")
                continue
            say(
                f"{size:>7,}  {kind:<18} {row['open']:>6,} {row['last_p50_ms']:>9.1f} {row['last_p99_ms']:>9.1f}"
                f" {row['socket_p50_ms']:>11.1f} {row['socket_p99_ms']:>11.1f} {row['rss_mb']:>8.1f}"
                f" {row['server_cpu_us_per_frame']:>13.1f} {row.get('ratio_p50_vs_b', ''):>11}"
                f" {row.get('ratio_p50_vs_a', ''):>11} {row.get('ratio_p99_vs_b', ''):>11}"
            )
    for kind, rows in report["servers"].items():
        for size, row in rows.items():
            if row.get("failed") or row.get("lost_sockets") or row.get("incomplete_quotes"):
                say(
                    f"NOTE {kind} N={size}: failed handshakes {row['failed']}, lost sockets {row['lost_sockets']},"
                    f" incomplete quotes {row['incomplete_quotes']}, frames missing {row['frames_missing']}"
                )
    say(f"\nTargets: app p50 at N=1,000 <= {TARGET_RATIO:.0f}x bare websockets; 5,000 sockets under {TARGET_RSS_MB} MB")
    for kind, verdict in report["verdicts"].items():
        say(f"  {kind}: {verdict}")


def _run(args: argparse.Namespace) -> dict[str, Any]:
    deadline = time.monotonic() + args.budget
    report: dict[str, Any] = {"settings": {**vars(args), "symbol": SYMBOL}, "machine": machine(), "servers": {}}
    say(f"fan-out: {len(args.servers)} servers x N={args.sizes}, {args.processes} client processes, "
        f"clients offer compression={args.compression}")  # fmt: skip
    report["background_cores_at_start"] = wait_for_quiet(args.quiet_wait)
    with app_context(RESULTS.parent / "fanout_logs") as ctx:
        progress("scratch database ready")
        for kind in args.servers:
            try:
                report["servers"][kind] = asyncio.run(_server(kind, ctx, args, deadline))
            except (RuntimeError, OSError, TimeoutError) as exc:
                report["servers"][kind] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
                say(f"  {kind}: FAILED {report['servers'][kind]['error']}")
    report["elapsed_s"] = round(time.monotonic() - deadline + args.budget, 1)
    _ratios(report["servers"])
    report["verdicts"] = _verdicts(report["servers"])
    return report


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    report = run_and_save(lambda: _run(args), _print, RESULTS)
    if report is None:
        return 130
    return 0 if all(v is not False for verdict in report["verdicts"].values() for v in verdict.values()) else 1
