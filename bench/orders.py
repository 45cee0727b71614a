"""Order-path benchmark: POST .../orders to the broker simulator and to `trade:executed`, beside the bare SDK call.

`python -m bench orders [--users 100] [--orders 200] [--rate 300] [--warmup 20] [--duration 40]
[--worker-concurrency 2] [--worker-pool prefork] [--skip-latency] [--skip-throughput]`

One run, a scratch database (SQLite, or DATABASE_URL) and Redis (embedded unless REDIS_URL):

- The Alpaca and Kraken simulators of tests/simulators, each in a process of its own
  (`bench._order_sims`): one Alpaca account per user, one Kraken API key per user, plus a few
  for the bare loops. Each stamps every order's arrival by its client order id.
- `--users` premium users, each with an API token and both brokers connected through the
  product's own `connection_configure` (credentials sealed, first snapshot taken).
- The product as production runs it (README "Production"): granian WSGI (2 workers x 1 thread,
  DB_CONN_MAX_AGE=60) for HTTP, uvicorn with the coalescing protocol for /ws/, one Celery worker
  (`--worker-concurrency` processes of `--worker-pool`; `make run`'s default is 2, prefork) and
  one beat. Endpoints reach the SDKs through ALPACA_API_URL / KRAKEN_API_URL, as in production.
- The client (`bench._order_client`, a process of its own) holds one WebSocket per user and
  POSTs market orders (1 AAPL at Alpaca; 0.0001 BTC/USD at Kraken) with its own client order ids.

1. Latency: `--orders` per broker, one at a time (`--gap` s apart), round robin over the users;
   API-to-broker = the simulator's arrival stamp minus the moment the POST was written, and the
   moment `trade:executed` reached the socket. Beside it, in the same run, a bare loop calls the
   same SDK method on the same simulator (`bench._order_bare`: alpaca-py `submit_order`, ccxt
   `create_order`) in a process of its own. Target: API-to-broker p50 within 3x the bare call's.
2. Throughput: orders sent open loop at `--rate` per second for `--warmup` + `--duration` s,
   `--kraken-share` of them to Kraken, each broker's share round robin over the users (so every
   account gets the same pace: the limiter, not this benchmark, decides what one account may
   send). Figures over the measured `--duration` window: orders reaching the simulators per
   second, API-to-broker p50/p99, CPU per order by process. Target: >= 300 orders/s with
   API-to-broker p99 <= 250 ms.

Afterwards every order is checked: each accepted order reached its broker exactly once (no
client order id twice at a simulator), none is left pending, each fill sent one trade:executed.
Every process started is stopped on exit, errors, Ctrl-C or SIGTERM (and dies with this one).
Figures go to stdout and bench/results/orders.json; process logs to bench/results/orders_logs/.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench._fanout_common import machine, machine_busy, percentile, progress, say, stop_on_signals, wait_for_quiet
from bench._fanout_servers import child_setup
from bench._fixture import environment, prepare
from bench._servers import BASE_DIR, PY, port_open, stop
from config.embedded import free_port, redis_url
from realtime.wsprotocol import UVICORN_OPTIONS

RESULTS = BASE_DIR / "bench" / "results" / "orders.json"
LOGS = BASE_DIR / "bench" / "results" / "orders_logs"
TARGET_RATIO = 3.0
TARGET_RPS = 300
TARGET_P99_MS = 250.0
BARE_ACCOUNTS = 10  # simulator accounts/keys of the bare loops (Kraken's per-key trading counter)
ORDERS = {
    "alpaca": {"symbol": "AAPL", "side": "buy", "type": "market", "qty": "1"},
    "kraken": {"symbol": "BTC/USD", "side": "buy", "type": "market", "qty": "0.0001"},
}
SDK_CALL = {"alpaca": "alpaca-py submit_order", "kraken": "ccxt create_order"}
OPEN = ("pending", "unknown")


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench orders", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100, help="premium users, each with both brokers (100)")
    parser.add_argument("--orders", type=int, default=200, help="latency: orders per broker (200)")
    parser.add_argument("--gap", type=float, default=0.05, help="latency: seconds between two orders (0.05)")
    parser.add_argument("--rate", type=float, default=300.0, help="throughput: orders/s offered (300)")
    parser.add_argument("--kraken-share", type=float, default=0.1, help="throughput: share sent to Kraken (0.1)")
    parser.add_argument("--warmup", type=float, default=20.0, help="throughput: unmeasured seconds first (20)")
    parser.add_argument("--duration", type=float, default=40.0, help="throughput: measured seconds (40)")
    parser.add_argument("--drain", type=float, default=15.0, help="seconds to wait for the last events (15)")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker processes/threads (2)")
    parser.add_argument("--worker-pool", default="prefork", help="Celery pool: prefork, threads, solo (prefork)")
    parser.add_argument("--worker-env", action="append", default=[], help="NAME=VALUE for the worker only")
    parser.add_argument("--quiet-wait", type=float, default=60.0, help="max seconds to wait for an idle machine")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    return parser.parse_args(argv)


# --- processes ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _process(name: str, command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` (output to orders_logs/NAME.log) until the block ends; it also dies with this process."""
    with (LOGS / f"{name}.log").open("ab") as out:
        proc = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=out, stderr=out, start_new_session=True, preexec_fn=child_setup
        )
    try:
        yield proc
    finally:
        stop(proc)


def _wait(ready: Any, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start (exit code {proc.poll()}); see {LOGS.relative_to(BASE_DIR)}")
        time.sleep(0.2)


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def _simulators(scratch: Path, accounts: int) -> Iterator[dict[str, dict[str, Any]]]:
    """Both simulators, each in its own process; yields {broker: {"url", "keys", "pid"}}."""
    with contextlib.ExitStack() as stack:
        sims: dict[str, dict[str, Any]] = {}
        for broker in ("alpaca", "kraken"):
            info = scratch / f"{broker}.json"
            command = [PY, "-m", "bench._order_sims", broker, str(accounts), str(info)]
            proc = stack.enter_context(_process(f"sim-{broker}", command, dict(os.environ)))
            _wait(info.exists, proc, f"the {broker} simulator")
            sims[broker] = {**json.loads(info.read_text()), "pid": proc.pid}
        yield sims


def _receipts(sims: dict[str, dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Per broker: client order id -> every arrival stamp (two would be an order sent twice)."""
    found: dict[str, dict[str, list[float]]] = {}
    for broker, sim in sims.items():
        stamps: dict[str, list[float]] = {}
        for at, client_order_id in _get_json(sim["url"] + "/_bench/receipts")["receipts"]:
            stamps.setdefault(client_order_id, []).append(at)
        found[broker] = stamps
    return found


def _calls(sims: dict[str, dict[str, Any]]) -> dict[str, Counter[str]]:
    return {broker: Counter(_get_json(sim["url"] + "/_bench/calls")["calls"]) for broker, sim in sims.items()}


@dataclass
class Stack:
    http: str
    ws: str
    pids: dict[str, int] = field(default_factory=dict)


@contextlib.contextmanager
def _stack(env: dict[str, str], scratch: Path, args: argparse.Namespace) -> Iterator[Stack]:
    """granian (HTTP), uvicorn (/ws/), a Celery worker and beat, as README "Production" runs them."""
    http_port, ws_port = free_port(), free_port()
    worker_name = f"bench-orders-{os.getpid()}@{os.uname().nodename}"
    web = [PY, "-m", "granian", "--interface", "wsgi", "--workers", "2", "--blocking-threads", "1"]
    web += ["--host", "127.0.0.1", "--port", str(http_port), "--log-level", "warning", "--no-access-log"]
    ws = [PY, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(ws_port), "--log-level", "warning"]
    ws += ["--no-access-log", *UVICORN_OPTIONS]
    worker_log = os.environ.get("BENCH_WORKER_LOG", "WARNING")  # INFO logs each task's run time
    worker = [PY, "-m", "celery", "-A", "config", "worker", "-l", worker_log, "-n", worker_name]
    worker += ["--concurrency", str(args.worker_concurrency), "--pool", args.worker_pool]
    beat = [PY, "-m", "celery", "-A", "config", "beat", "-l", "WARNING", "-s", str(scratch / "celerybeat-schedule")]
    # A prefork child runs one task at a time in one thread, like a granian worker: it keeps its
    # database connection (with 0, Django closes it after every task and PostgreSQL forks a new
    # backend for the next one).
    worker_env = {**env, "DB_CONN_MAX_AGE": "60", **dict(item.split("=", 1) for item in args.worker_env)}
    with contextlib.ExitStack() as stack:
        procs = {
            "web": stack.enter_context(
                _process("web", [*web, "config.wsgi:application"], {**env, "DB_CONN_MAX_AGE": "60"})
            ),
            "ws": stack.enter_context(_process("ws", [*ws, "config.asgi:application"], env)),
            "worker": stack.enter_context(_process("worker", worker, worker_env)),
            "beat": stack.enter_context(_process("beat", beat, env)),
        }
        base = f"http://127.0.0.1:{http_port}"
        _wait(lambda: port_open(http_port) and _answers(base + "/api/brokers/supported"), procs["web"], "granian")
        _wait(lambda: port_open(ws_port), procs["ws"], "uvicorn")
        _wait(lambda: _worker_ready(worker_name), procs["worker"], "the Celery worker")
        yield Stack(http=base, ws=f"ws://127.0.0.1:{ws_port}/ws/", pids={k: p.pid for k, p in procs.items()})


def _answers(url: str) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200
    return False


def _worker_ready(name: str) -> bool:
    from config.celery import WORKERS_KEY
    from config.redis import get_redis

    return get_redis().zscore(WORKERS_KEY, name) is not None


# --- the data ----------------------------------------------------------------------------------


def _users(count: int, sims: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Premium users with a token and both brokers connected, through the product's own services."""
    from django.db import connection

    from accounts.models import Tier, User
    from accounts.services import api_token_create
    from brokers.adapters.registry import BROKERS
    from brokers.services.connections import connection_configure
    from brokers.sessions import sessions_close_all

    stamp, users = uuid.uuid4().hex[:8], []
    for i in range(count):
        user = User.objects.create_user(email=f"orders-{stamp}-{i}@example.com", password=None, tier=Tier.PREMIUM)
        token = api_token_create(user=user, name="bench").key
        key_id, secret = sims["alpaca"]["keys"][i]
        credentials = {"api_key_id": key_id, "api_secret_key": secret}
        connection_configure(user=user, spec=BROKERS["alpaca"], credentials=credentials, paper=True)
        key, secret = sims["kraken"]["keys"][i]
        connection_configure(
            user=user, spec=BROKERS["kraken"], credentials={"api_key": key, "api_secret": secret}, paper=False
        )
        users.append({"id": user.pk, "token": token})
        if i % 20 == 19:
            progress(f"  {i + 1} users connected")
    sessions_close_all()
    connection.close()
    return users


def _cleanup(users: list[dict[str, Any]]) -> None:
    from accounts.models import User
    from brokers.models import BrokerConnection
    from brokers.services.connections import connection_delete

    ids = [u["id"] for u in users]
    for connection in BrokerConnection.objects.filter(user_id__in=ids):
        connection_delete(connection=connection)
    User.objects.filter(pk__in=ids).delete()


def _order_statuses(client_order_ids: list[str]) -> dict[str, int]:
    from django.db import connection
    from django.db.models import Count

    from brokers.models import Order

    counts: Counter[str] = Counter()
    for first in range(0, len(client_order_ids), 500):
        rows = (
            Order.objects.filter(client_order_id__in=client_order_ids[first : first + 500])
            .values("status")
            .annotate(n=Count("id"))
        )
        counts.update({row["status"]: row["n"] for row in rows})
    connection.close()
    return dict(counts)


def _settle(client_order_ids: list[str], timeout: float) -> dict[str, int]:
    """Wait (bounded) until none of these orders is still pending or in flight; their statuses."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = _order_statuses(client_order_ids)
        if not any(statuses.get(s) for s in OPEN) or time.monotonic() > deadline:
            return statuses
        time.sleep(0.5)


# --- the client and the bare loops ----------------------------------------------------------


def _order(broker: str, user: int) -> tuple[int, str, dict[str, Any]]:
    body = {**ORDERS[broker], "client_order_id": uuid.uuid4().hex}
    return user, f"/api/brokers/user/{broker}/orders", body


def _run_client(stack: Stack, users: list[dict[str, Any]], scratch: Path, name: str, **spec: Any) -> dict[str, Any]:
    spec_file, out = scratch / f"{name}-spec.json", scratch / f"{name}-out.json"
    spec_file.write_text(
        json.dumps({"http": stack.http, "ws": stack.ws, "tokens": [u["token"] for u in users], **spec})
    )
    with _process(
        f"client-{name}", [PY, "-m", "bench._order_client", str(spec_file), str(out)], dict(os.environ)
    ) as proc:
        limit = 120 + spec.get("drain", 0) + (spec["orders"][-1][0] if spec["orders"] else 0)
        limit += len(spec["orders"]) * spec.get("gap", 0) * 3
        proc.wait(timeout=limit)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"the {name} client failed (exit code {proc.returncode}); see orders_logs/client-{name}.log")
    return json.loads(out.read_text())


def _run_bare(
    broker: str, sims: dict[str, dict[str, Any]], users: int, args: argparse.Namespace, scratch: Path
) -> list[Any]:
    keys = sims[broker]["keys"][users : users + BARE_ACCOUNTS]
    spec = {"url": sims[broker]["url"], "keys": keys, "count": args.orders, "gap": args.gap, "warmup": 10}
    spec_file, out = scratch / f"bare-{broker}-spec.json", scratch / f"bare-{broker}-out.json"
    spec_file.write_text(json.dumps(spec))
    with _process(
        f"bare-{broker}", [PY, "-m", "bench._order_bare", broker, str(spec_file), str(out)], dict(os.environ)
    ) as proc:
        proc.wait(timeout=120 + args.orders * (args.gap + 1))
    if proc.returncode != 0:
        raise RuntimeError(f"the bare {broker} loop failed; see orders_logs/bare-{broker}.log")
    return json.loads(out.read_text())


# --- figures -----------------------------------------------------------------------------------


def _stats(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(percentile(ordered, 0.5) * 1000, 2) if ordered else None,
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 2) if ordered else None,
    }


def _first_events(result: dict[str, Any], event: str = "trade:executed") -> dict[str, float]:
    first: dict[str, float] = {}
    for at, name, client_order_id, status in result["events"]:
        if name == event and status == "filled" and client_order_id not in first:
            first[client_order_id] = at
    return first


def _event_counts(result: dict[str, Any]) -> Counter[str]:
    return Counter(cid for _, name, cid, status in result["events"] if name == "trade:executed" and status == "filled")


def _latency(broker: str, result: dict[str, Any], bare: list[Any], stamps: dict[str, list[float]]) -> dict[str, Any]:
    posts = [p for p in result["posts"] if p[4] == 202]
    executed = _first_events(result)
    bare_call = _stats([seconds for _, seconds, _ in bare])
    rows = {
        "bare_call": {**bare_call, "path": f"bare {SDK_CALL[broker]}: the call"},
        "bare_to_broker": {
            **_stats([stamps[cid][0] - started for started, _, cid in bare if cid in stamps]),
            "path": f"bare {SDK_CALL[broker]}: call to simulator",
        },
        "api_answer": {**_stats([done - sent for _, _, sent, done, _ in posts]), "path": "API: POST to 202"},
        "api_to_broker": {
            **_stats([stamps[cid][0] - sent for cid, _, sent, _, _ in posts if cid in stamps]),
            "path": "API: POST to simulator (API-to-broker)",
        },
        "api_to_event": {
            **_stats([executed[cid] - sent for cid, _, sent, _, _ in posts if cid in executed]),
            "path": "API: POST to trade:executed on the socket",
        },
    }
    for row in rows.values():
        row["x_bare_call_p50"] = round(row["p50_ms"] / bare_call["p50_ms"], 2) if row["p50_ms"] else None
    ratio = rows["api_to_broker"]["x_bare_call_p50"]
    return {
        "rows": rows,
        "statuses": Counter(str(p[4]) for p in result["posts"]),
        "meets_target": ratio is not None and ratio <= TARGET_RATIO,
    }


class CpuSampler:
    """CPU seconds of each group of processes (with their children), sampled from this process."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.samples: list[tuple[float, dict[str, float]]] = []

    def sample(self) -> None:
        at, values = time.monotonic(), {"machine": machine_busy()}
        for name, pids in self.groups.items():
            total = 0.0
            for pid in pids:
                with contextlib.suppress(psutil.Error):
                    root = psutil.Process(pid)
                    for proc in [root, *root.children(recursive=True)]:
                        with contextlib.suppress(psutil.Error):
                            times = proc.cpu_times()
                            total += times.user + times.system
            values[name] = total
        self.samples.append((at, values))

    def between(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds per group over the samples nearest to [start, end], and the seconds covered."""
        first = min(self.samples, key=lambda s: abs(s[0] - start))
        last = min(self.samples, key=lambda s: abs(s[0] - end))
        used = {name: last[1][name] - first[1][name] for name in first[1]}
        used["elsewhere"] = used["machine"] - sum(v for k, v in used.items() if k != "machine")
        used["wall"] = last[0] - first[0]
        return used


def _service_pids(*names: str) -> list[int]:
    return [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] and p.info["name"].startswith(names)]


def _throughput_schedule(users: int, args: argparse.Namespace) -> list[list[Any]]:
    """Open-loop due times at `rate`; every 1/share-th order to Kraken; each broker round robin over users."""
    total = int(args.rate * (args.warmup + args.duration))
    every = round(1 / args.kraken_share) if args.kraken_share > 0 else 0
    turns: Counter[str] = Counter()
    schedule = []
    for n in range(total):
        broker = "kraken" if every and n % every == every - 1 else "alpaca"
        user = turns[broker] % users
        turns[broker] += 1
        schedule.append([n / args.rate, *_order(broker, user)])
    return schedule


def _ceiling(users: int) -> dict[str, float]:
    """What the limiter lets `users` accounts send per second in the long run (its steady rate per account)."""
    from brokers.adapters.registry import get_spec

    found = {}
    for broker in ORDERS:
        limit = get_spec(broker).capabilities.rate_limits.for_kind("orders")
        if limit.model == "decay":
            steady = limit.requests / limit.per_seconds
        else:  # GCRA window: a burst of a tenth, then (requests - burst) per window (brokers/ratelimit.py)
            burst = min(limit.burst, limit.requests) if limit.burst else max(1, limit.requests // 10)
            steady = (limit.requests - burst) / limit.per_seconds
        found[broker] = round(users * steady, 1)
    return found


def _throughput(
    stack: Stack, sims: dict[str, dict[str, Any]], users: list[dict[str, Any]], args: argparse.Namespace, scratch: Path
) -> dict[str, Any]:
    schedule = _throughput_schedule(len(users), args)
    broker_of = {body["client_order_id"]: path.split("/")[4] for _, _, path, body in schedule}
    groups = {
        "web (granian)": [stack.pids["web"]],
        "ws (uvicorn)": [stack.pids["ws"]],
        "worker (celery)": [stack.pids["worker"]],
        "beat": [stack.pids["beat"]],
        "simulators": [sims["alpaca"]["pid"], sims["kraken"]["pid"]],
        "redis": _service_pids("redis-server"),
        "postgres": _service_pids("postgres"),
    }
    sampler, calls_before = CpuSampler(groups), _calls(sims)
    spec_file, out = scratch / "throughput-spec.json", scratch / "throughput-out.json"
    spec = {"http": stack.http, "ws": stack.ws, "tokens": [u["token"] for u in users], "mode": "open"}
    spec_file.write_text(json.dumps({**spec, "orders": schedule, "drain": args.drain}))
    command = [PY, "-m", "bench._order_client", str(spec_file), str(out)]
    with _process("client-throughput", command, dict(os.environ)) as proc:
        groups["client"] = [proc.pid]
        sampler.groups = groups
        while proc.poll() is None:
            sampler.sample()
            time.sleep(0.5)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError("the throughput client failed; see orders_logs/client-throughput.log")
    result = json.loads(out.read_text())
    return _throughput_figures(result, broker_of, sims, sampler, calls_before, args, len(users))


def _throughput_figures(
    result: dict[str, Any],
    broker_of: dict[str, str],
    sims: dict[str, dict[str, Any]],
    sampler: CpuSampler,
    calls_before: dict[str, Counter[str]],
    args: argparse.Namespace,
    users: int,
) -> dict[str, Any]:
    stamps = _receipts(sims)
    calls = {b: c - calls_before[b] for b, c in _calls(sims).items()}
    start = result["start"] + args.warmup
    end = start + args.duration
    executed = _first_events(result)
    window = [p for p in result["posts"] if start <= p[2] < end]
    rows: dict[str, Any] = {}
    for broker in (*ORDERS, "total"):
        mine = [p for p in window if broker in ("total", broker_of[p[0]])]
        accepted = [p for p in mine if p[4] == 202]
        arrived = [
            at
            for b in ORDERS
            if broker in ("total", b)
            for s in stamps[b].values()
            for at in s[:1]
            if start <= at < end
        ]
        to_broker = [
            stamps[broker_of[cid]][cid][0] - sent for cid, _, sent, _, _ in accepted if cid in stamps[broker_of[cid]]
        ]
        rows[broker] = {
            "offered_per_s": round(len(mine) / args.duration, 1),
            "accepted_per_s": round(len(accepted) / args.duration, 1),
            "to_broker_per_s": round(len(arrived) / args.duration, 1),
            "api_to_broker": _stats(to_broker),
            "not_at_broker": len(accepted) - len(to_broker),
            "api_answer": _stats([done - sent for _, _, sent, done, _ in accepted]),
            "api_to_event": _stats([executed[cid] - sent for cid, _, sent, _, _ in accepted if cid in executed]),
            "statuses": dict(Counter(str(p[4]) for p in mine)),
        }
    total = rows["total"]
    total["meets_target"] = (
        total["to_broker_per_s"] >= TARGET_RPS
        and total["api_to_broker"]["p99_ms"] is not None
        and total["api_to_broker"]["p99_ms"] <= TARGET_P99_MS
        and total["not_at_broker"] == 0
    )
    cpu = sampler.between(start, end)
    arrived_total = total["to_broker_per_s"] * args.duration or 1
    lag = [sent - due for _, due, sent, _, _ in window]
    return {
        "rows": rows,
        "limiter_steady_ceiling_per_s": _ceiling(users),
        "cpu_ms_per_order": {k: round(v * 1000 / arrived_total, 2) for k, v in cpu.items() if k != "wall"},
        "cpu_cores": {k: round(v / max(cpu["wall"], 1e-9), 2) for k, v in cpu.items() if k != "wall"},
        "broker_calls": {b: dict(c) for b, c in calls.items()},
        "broker_calls_per_order": {
            b: round(
                sum(c.values()) / max(1, sum(1 for cid in broker_of if broker_of[cid] == b and cid in stamps[b])), 2
            )
            for b, c in calls.items()
        },
        "client_send_lag_ms_max": round(max(lag, default=0) * 1000, 1),
        "sent_twice": sum(1 for b in ORDERS for s in stamps[b].values() if len(s) > 1),
        "events_twice": sum(1 for n in _event_counts(result).values() if n > 1),
        "lost_sockets": result["lost_sockets"],
        "client_order_ids": list(broker_of),
        "accepted_ids": [cid for cid, *_, status in result["posts"] if status == 202],
    }


# --- the report --------------------------------------------------------------------------------


def _print_latency(report: dict[str, Any]) -> None:
    say(
        f"\nLatency: {report['settings']['orders']} orders per broker, one at a time, "
        f"{report['settings']['gap']} s apart"
    )
    say(f"{'broker':<7} {'path':<48} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'x bare p50':>10}")
    for broker, figures in report["latency"].items():
        for row in figures["rows"].values():
            ratio = "" if row["x_bare_call_p50"] is None else f"{row['x_bare_call_p50']:.2f}"
            say(
                f"{broker:<7} {row['path']:<48} {row['n']:>5} {row['p50_ms'] or 0:>8.2f} "
                f"{row['p99_ms'] or 0:>8.2f} {ratio:>10}"
            )
        verdict = "met" if figures["meets_target"] else "missed"
        say(f"{broker:<7} target API-to-broker p50 <= {TARGET_RATIO:g}x the bare call: {verdict}")


def _print_throughput(report: dict[str, Any]) -> None:
    t, s = report["throughput"], report["settings"]
    say(
        f"\nThroughput: {s['rate']:g} orders/s offered open loop over {s['users']} users "
        f"({s['kraken_share']:.0%} Kraken), {s['warmup']:g} s warm-up, measured over {s['duration']:g} s"
    )
    say(
        f"{'broker':<7} {'offered/s':>9} {'202/s':>7} {'to broker/s':>11} {'ceiling/s':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'event p50':>9} {'event p99':>9}"
    )
    for broker, row in t["rows"].items():
        ceiling = t["limiter_steady_ceiling_per_s"].get(broker, sum(t["limiter_steady_ceiling_per_s"].values()))
        a, e = row["api_to_broker"], row["api_to_event"]
        say(
            f"{broker:<7} {row['offered_per_s']:>9.1f} {row['accepted_per_s']:>7.1f} {row['to_broker_per_s']:>11.1f} "
            f"{ceiling:>9.1f} {a['p50_ms'] or 0:>8.1f} {a['p99_ms'] or 0:>8.1f} {e['p50_ms'] or 0:>9.1f} "
            f"{e['p99_ms'] or 0:>9.1f}"
        )
    verdict = "met" if t["rows"]["total"]["meets_target"] else "missed"
    say(f"target >= {TARGET_RPS} orders/s to the brokers with API-to-broker p99 <= {TARGET_P99_MS:g} ms: {verdict}")
    say("CPU ms per order: " + ", ".join(f"{k} {v}" for k, v in t["cpu_ms_per_order"].items()))
    say("cores busy:       " + ", ".join(f"{k} {v}" for k, v in t["cpu_cores"].items()))
    say("broker calls per order: " + ", ".join(f"{k} {v}" for k, v in t["broker_calls_per_order"].items()))
    for broker, calls in t["broker_calls"].items():
        say(f"  {broker}: " + ", ".join(f"{k} {v}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1])))
    say(
        f"checks: sent twice {t['sent_twice']}, trade:executed twice {t['events_twice']}, not at the broker "
        f"{t['rows']['total']['not_at_broker']}, statuses after settling {t['statuses_after']}, "
        f"lost sockets {t['lost_sockets']}, client send lag max {t['client_send_lag_ms_max']} ms"
    )


# --- main ----------------------------------------------------------------------------------------


def _latency_phase(
    stack: Stack, sims: dict[str, dict[str, Any]], users: list[dict[str, Any]], args: argparse.Namespace, scratch: Path
) -> dict[str, Any]:
    figures = {}
    for broker in ORDERS:
        orders = [[0.0, *_order(broker, n % len(users))] for n in range(args.orders)]
        progress(f"latency: {broker}, {args.orders} orders through the API")
        result = _run_client(
            stack, users, scratch, f"latency-{broker}", mode="closed", gap=args.gap, orders=orders, drain=args.drain
        )
        progress(f"latency: {broker}, {args.orders} bare {SDK_CALL[broker]} calls")
        bare = _run_bare(broker, sims, len(users), args, scratch)
        figures[broker] = _latency(broker, result, bare, _receipts(sims)[broker])
        figures[broker]["events_twice"] = sum(1 for n in _event_counts(result).values() if n > 1)
        figures[broker]["statuses_after"] = _settle([o[3]["client_order_id"] for o in orders], 30)
    return figures


def _warm_up(stack: Stack, users: list[dict[str, Any]], scratch: Path, args: argparse.Namespace) -> None:
    """Two orders per user and broker: every worker process builds its pooled adapters, markets are loaded."""
    orders = [[0.0, *_order(broker, user)] for _ in range(2) for user in range(len(users)) for broker in ORDERS]
    progress(f"warm-up: {len(orders)} orders")
    _run_client(stack, users, scratch, "warmup", mode="closed", gap=0.01, orders=orders, drain=2)
    _settle([o[3]["client_order_id"] for o in orders], 30)


def _run(args: argparse.Namespace) -> dict[str, Any]:
    LOGS.mkdir(parents=True, exist_ok=True)
    for old in LOGS.glob("*.log"):
        old.unlink()
    report: dict[str, Any] = {"benchmark": "orders", "settings": vars(args)}
    report["busy_elsewhere_before_cores"] = wait_for_quiet(args.quiet_wait)
    with (
        redis_url() as url,
        tempfile.TemporaryDirectory(prefix="tradewire-bench-orders-") as scratch_dir,
        _simulators(Path(scratch_dir), args.users + BARE_ACCOUNTS) as sims,
    ):
        scratch = Path(scratch_dir)
        env = environment(data_dir=scratch_dir, redis_url=url)
        env.update(
            ALPACA_API_URL=sims["alpaca"]["url"],
            ALPACA_DATA_URL=sims["alpaca"]["url"],
            KRAKEN_API_URL=sims["kraken"]["url"],
        )
        prepare(env)
        report["database"] = env["DATABASE_URL"].split(":", 1)[0]
        progress(f"connecting {args.users} users to both simulators ({report['database']})")
        users = _users(args.users, sims)
        try:
            with _stack(env, scratch, args) as stack:
                _warm_up(stack, users, scratch, args)
                if not args.skip_latency:
                    report["latency"] = _latency_phase(stack, sims, users, args, scratch)
                if not args.skip_throughput:
                    progress(f"throughput: {args.rate:g} orders/s for {args.warmup + args.duration:g} s")
                    figures = _throughput(stack, sims, users, args, scratch)
                    figures["statuses_after"] = _settle(figures.pop("accepted_ids"), 60)
                    figures.pop("client_order_ids")
                    report["throughput"] = figures
        finally:
            _cleanup(users)
    report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    report["machine"] = machine()
    return report


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    started = time.monotonic()
    try:
        with stop_on_signals():
            report = _run(args)
    except KeyboardInterrupt:
        say("\ninterrupted: every process started was stopped; no results written")
        return 1
    report["seconds"] = round(time.monotonic() - started, 1)
    say(
        f"\nDatabase: {report['database']}; machine busy elsewhere before the run: "
        f"{report['busy_elsewhere_before_cores']} cores"
    )
    if "latency" in report:
        _print_latency(report)
    if "throughput" in report:
        _print_throughput(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str) + "\n")
    say(f"\nWritten to {RESULTS.relative_to(BASE_DIR)} ({report['seconds']} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
