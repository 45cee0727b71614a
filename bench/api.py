"""API benchmark: the token-authenticated broker API against a bare Django view, per server.

`python -m bench api [--servers daphne,uvicorn-w1,...] [--duration 5] [--concurrency 48]`

One run: a scratch database (SQLite, or DATABASE_URL) with a premium user, an API token and the
paper broker connected; then, per server (Daphne, uvicorn with 1 and 2 workers, gunicorn with
2 sync workers), three loads on loopback from a separate generator process: the bare view,
`GET /api/brokers/user/configured` and the cached `GET /api/brokers/user/paper/balance`.
Figures: requests/s, p50, p99, and the API's throughput as a share of the bare view's on the
same server. The balance run must not add a BalanceSnapshot row (it is served from the last
snapshot, never from the broker). The generator's own ceiling is measured first against a
trivial server. Results go to stdout and bench/results/api.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench._fixture import BARE_PATH, Fixture, cleanup, environment, prepare, snapshot_count
from bench._servers import BASE_DIR, PY, SERVERS, port_open, serving
from config.embedded import free_port, redis_url

ENDPOINTS = {
    "bare": BARE_PATH,
    "configured": "/api/brokers/user/configured",
    "balance": "/api/brokers/user/paper/balance",
}
# The target for the API endpoints.
TARGET_RPS = 1500
TARGET_P99_MS = 50.0
TARGET_SLOWDOWN = 1.5  # within 1.5x of the bare view: API req/s >= bare req/s / 1.5
RESULTS = BASE_DIR / "bench" / "results" / "api.json"


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench api", description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma list of {', '.join(SERVERS)}")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per load (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each (default 1)")
    parser.add_argument("--concurrency", type=int, default=48, help="open connections (default 48)")
    parser.add_argument(
        "--settings",
        default="bench._settings",
        help="Django settings module for every process (default bench._settings); to measure a change "
        "before making it, point this at a module that imports bench._settings and overrides it",
    )
    args = parser.parse_args(argv)
    args.servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = set(args.servers) - set(SERVERS)
    if unknown:
        parser.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    return args


def _load(url: str, args: argparse.Namespace, *, headers: Sequence[str] = ()) -> dict[str, Any]:
    """One fixed-duration load from a separate generator process."""
    command = [PY, "-m", "bench._loadgen", url, "--concurrency", str(args.concurrency)]
    command += ["--warmup", str(args.warmup), "--duration", str(args.duration)]
    env = {**os.environ, "LOADGEN_HEADERS": "\n".join(headers)}
    done = subprocess.run(
        command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=args.warmup + args.duration + 30
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


@contextmanager
def _echo_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([PY, "-m", "bench._echo", str(port)], cwd=BASE_DIR)
    try:
        deadline = time.monotonic() + 10
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the echo server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _generator_ceiling(args: argparse.Namespace) -> dict[str, Any]:
    short = argparse.Namespace(**{**vars(args), "duration": min(args.duration, 3.0)})
    with _echo_server() as url:
        return _load(url, short)


def _server(name: str, *, env: dict[str, str], fixture: Fixture, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    """The three loads against one server; the balance load is bracketed by snapshot counts.

    Besides the client's view (req/s, latency) each row has the server's own CPU time per
    request, which stays meaningful when other work shares the machine.
    """
    results: dict[str, Any] = {}
    headers = [f"Authorization: Token {fixture.token}"]
    with serving(name, env=env, ready_path=BARE_PATH, log=log) as server:
        for endpoint, path in ENDPOINTS.items():
            before, cpu, busy, wall = snapshot_count(fixture), server.cpu_seconds(), _busy_seconds(), time.monotonic()
            row = _load(server.url + path, args, headers=headers)
            cpu = server.cpu_seconds() - cpu
            row["server_cpu_ms_per_request"] = round(cpu * 1000 / max(1, row["requests_with_warmup"]), 3)
            # CPU the rest of the machine used meanwhile (other work here skews every figure but the one above).
            others = _busy_seconds() - busy - cpu - row["generator_cpu_s"]
            row["background_cores"] = round(max(0.0, others) / (time.monotonic() - wall), 2)
            row["balance_snapshots"] = {"before": before, "after": snapshot_count(fixture)}
            results[endpoint] = row
            print(f"  {name:<17} {endpoint:<11} {row['rps']:>8,.0f} req/s", flush=True)
    return results


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, all processes)."""
    times = psutil.cpu_times()._asdict()
    idle = ("idle", "iowait", "guest", "guest_nice")  # guest time is already inside user time
    return sum(value for name, value in times.items() if name not in idle)


def _verdicts(servers: dict[str, dict[str, Any]]) -> None:
    """Add the API/bare ratio and the target's verdict to every API row, in place."""
    for results in servers.values():
        bare = results.get("bare", {}).get("rps") or 0
        for endpoint in ("configured", "balance"):
            row = results.get(endpoint)
            if not row or not bare:
                continue
            row["share_of_bare"] = round(row["rps"] / bare, 3)
            row["meets_target"] = (
                row["rps"] >= TARGET_RPS
                and row["p99_ms"] <= TARGET_P99_MS
                and row["rps"] * TARGET_SLOWDOWN >= bare
                and row["statuses"] == {"200": row["requests"]}
            )


def _problems(servers: dict[str, dict[str, Any]]) -> list[str]:
    found = []
    for name, results in servers.items():
        if "error" in results:
            found.append(f"{name}: {results['error']}")
            continue
        for endpoint, row in results.items():
            if set(row["statuses"]) != {"200"} or row["connection_errors"] or row["abandoned"]:
                found.append(f"{name} {endpoint}: statuses {row['statuses']}, {row['connection_errors']} errors")
        snapshots = results["balance"]["balance_snapshots"]
        if snapshots["before"] != snapshots["after"]:
            found.append(f"{name}: the balance load added {snapshots['after'] - snapshots['before']} snapshot(s)")
    return found


_COLUMNS = "server            endpoint       req/s  p50 ms  p99 ms  API/bare  CPU ms/req  busy elsewhere  target"


def _print_row(name: str, endpoint: str, row: dict[str, Any]) -> None:
    share = f"{row['share_of_bare']:.2f}" if "share_of_bare" in row else ""
    verdict = {True: "met", False: "missed"}.get(row.get("meets_target"), "")
    print(
        f"{name:<17} {endpoint:<11} {row['rps']:>8,.0f} {row['p50_ms']:>7.1f} {row['p99_ms']:>7.1f} {share:>9} "
        f"{row['server_cpu_ms_per_request']:>11.2f} {row['background_cores']:>9.2f} cores  {verdict}"
    )


def _print_report(report: dict[str, Any]) -> None:
    ceiling = report["generator_ceiling"]
    print(
        f"\nLoad generator ceiling (trivial asyncio server, {ceiling['concurrency']} connections): "
        f"{ceiling['rps']:,.0f} req/s, p50 {ceiling['p50_ms']} ms, p99 {ceiling['p99_ms']} ms"
    )
    print(f"\n{_COLUMNS}")
    for name, results in report["servers"].items():
        if "error" in results:
            print(f"{name:<17} failed: {results['error']}")
            continue
        for endpoint, row in results.items():
            _print_row(name, endpoint, row)
    print(
        f"\nTarget per API row: >= {TARGET_RPS:,} req/s, p99 <= {TARGET_P99_MS:.0f} ms, "
        f"API/bare >= {1 / TARGET_SLOWDOWN:.2f} (within {TARGET_SLOWDOWN}x of the bare view). "
        "CPU ms/req: the server's own CPU time per request, all its processes. "
        "Busy elsewhere: CPU other processes used meanwhile (anything but 0 skews req/s and latency)."
    )
    for name, results in report["servers"].items():
        if "balance" in results:
            before, after = results["balance"]["balance_snapshots"].values()
            outcome = "unchanged: served from the snapshot" if before == after else "CHANGED"
            print(f"BalanceSnapshot rows around the {name} balance load: {before} -> {after} ({outcome})")
    for problem in report["problems"]:
        print(f"PROBLEM: {problem}")


def _machine(env: dict[str, str]) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "database": env["DATABASE_URL"].split(":", 1)[0],
    }


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    started = time.monotonic()
    with redis_url() as url, tempfile.TemporaryDirectory(prefix="tradewire-bench-") as scratch:
        env = environment(data_dir=scratch, redis_url=url, settings=args.settings)
        fixture = prepare(env)
        try:
            ceiling = _generator_ceiling(args)
            servers: dict[str, dict[str, Any]] = {}
            for name in args.servers:
                try:
                    log = Path(scratch) / f"{name}.log"
                    servers[name] = _server(name, env=env, fixture=fixture, args=args, log=log)
                except (RuntimeError, subprocess.SubprocessError, ValueError) as exc:
                    servers[name] = {"error": str(exc)}
        finally:
            cleanup(fixture)
    _verdicts(servers)
    report = {
        "benchmark": "api",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "machine": _machine(env),
        "settings": {k: getattr(args, k) for k in ("duration", "warmup", "concurrency", "settings")},
        "environment": {k: os.environ[k] for k in ("DB_CONN_MAX_AGE",) if k in os.environ},
        "servers_described": {name: SERVERS[name][1] for name in args.servers},
        "endpoints": ENDPOINTS,
        "generator_ceiling": ceiling,
        "servers": servers,
    }
    report["problems"] = _problems(servers)
    _print_report(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWritten to {RESULTS.relative_to(BASE_DIR)} ({report['seconds']} s).")
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
