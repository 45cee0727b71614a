"""Bots benchmark: webhook intake by one web process, and one leader signal to N followers on paper.

`python -m bench bots [--duration 5] [--concurrency 16] [--rate 500] [--followers 1000] [--skip-intake]`

One run, a scratch database (SQLite, or DATABASE_URL) and Redis (embedded unless REDIS_URL):

1. Intake. `--bots` webhook bots (so the per-token limit is never what is measured), then ONE web
   process (granian's WSGI interface, 1 worker, as README "Production" serves HTTP) and a
   separate load-generator process POSTing signals (each with its own id, round-robin over
   the tokens): first closed-loop with `--concurrency` connections (the most it takes), then
   open-loop at `--rate` signals/s (latency counted from when each request was due, so queueing
   shows). A signal counts as accepted on a 202; afterwards the database must hold exactly one
   recorded signal per 202. No worker runs: intake only records and queues (the queue is
   emptied afterwards).
2. Fan-out. A published leader bot and `--followers` follower bots, each of its own user with
   the paper broker connected; the web process and a Celery worker (`--worker-concurrency`
   processes, prefork). One warm-up signal, then one leader signal: the figure is the time from
   the webhook POST to the last follower's order filled (the `updated_at` of the last fill),
   with the leader's decision and the first/last follower orders on the way.

Figures go to stdout and bench/results/bots.json. Not a test: nothing fails on a missed target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal as signals
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._fixture import environment, prepare
from bench._loadgen import _Connection, _event_loop_run, _percentile
from bench._servers import BASE_DIR, PY, port_open, stop
from config.embedded import free_port, redis_url

RESULTS = BASE_DIR / "bench" / "results" / "bots.json"
TARGET_INTAKE_RPS = 500
TARGET_INTAKE_P99_MS = 50.0
TARGET_FANOUT_SECONDS = 3.0
SYMBOL = "AAPL"


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench bots", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per intake load (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each (default 1)")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop connections (default 16)")
    parser.add_argument("--rate", type=float, default=TARGET_INTAKE_RPS, help="open-loop signals/s (default 500)")
    parser.add_argument("--bots", type=int, default=1000, help="webhook bots the intake load spreads over")
    parser.add_argument("--threads", type=int, default=1, help="granian blocking threads of the web process")
    parser.add_argument("--followers", type=int, default=1000, help="follower bots of the leader (default 1000)")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker processes (default 2)")
    parser.add_argument("--skip-intake", action="store_true")
    parser.add_argument("--skip-fanout", action="store_true")
    return parser.parse_args(argv)


# --- the processes ---------------------------------------------------------------------------


@contextlib.contextmanager
def _web(env: dict[str, str], log: Path, threads: int) -> Iterator[str]:
    """One granian WSGI worker on a loopback port, until the block ends."""
    port = free_port()
    command = [PY, "-m", "granian", "--interface", "wsgi", "--workers", "1", "--blocking-threads", str(threads)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    command += ["config.wsgi:application"]
    with _process(command, {**env, "DB_CONN_MAX_AGE": "60"}, log) as proc:
        deadline = time.monotonic() + 60
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the web process did not start: {log.read_text(errors='replace')[-800:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def _worker(env: dict[str, str], log: Path, concurrency: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [PY, "-m", "celery", "-A", "config", "worker", "-l", "WARNING", "--concurrency", str(concurrency)]
    command += ["--pool", "prefork", "-n", f"bench-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]
    with _process(command, env, log) as proc:
        yield proc


@contextlib.contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signals.SIGTERM)
        stop(proc)


# --- 1. intake -------------------------------------------------------------------------------


def _intake_bots(user_id: int, count: int) -> list[str]:
    """`count` webhook bots of the benchmark user (paused: nothing would trade), their tokens."""
    from bots.models import Bot, BotState
    from bots.services.bots import _new_token, webhook_token_hash

    tokens = [_new_token() for _ in range(count)]
    Bot.objects.bulk_create(
        [
            Bot(user_id=user_id, name=f"intake {i}", state=BotState.PAUSED, webhook_token_hash=webhook_token_hash(t))
            for i, t in enumerate(tokens)
        ]
    )
    return tokens


def _intake(env: dict[str, str], args: argparse.Namespace, scratch: Path, user_id: int) -> dict[str, Any]:
    from bots.models import Signal

    tokens_file = scratch / "tokens.txt"
    tokens_file.write_text("\n".join(_intake_bots(user_id, args.bots)))
    results: dict[str, Any] = {}
    with _web(env, scratch / "web-intake.log", args.threads) as url:
        for mode in ("closed", "open"):
            before = Signal.objects.count()
            row = _loadgen(url, tokens_file, mode, args)
            row["recorded"] = Signal.objects.count() - before
            row["recorded_matches_202"] = row["recorded"] == row["accepted_with_warmup"]
            results[mode] = row
            print(f"  intake {mode:<6} {row['accepted_rps']:>8,.0f} signals/s  p99 {row['p99_ms']} ms", flush=True)
    _queue_purge()
    return results


def _queue_purge() -> None:
    """Empty what intake left for a worker: the queued drain tasks, the lanes' drainer flags and the
    recorded signals themselves (no worker ran; the fan-out must not start behind thousands of them)."""
    from bots.models import Signal
    from bots.services.inbox import LANES, _flag
    from config.celery import app
    from config.redis import get_redis

    with contextlib.suppress(Exception):
        app.control.purge()
    get_redis().delete(*[_flag(lane) for lane in range(LANES)])
    Signal.objects.all().delete()


def _loadgen(url: str, tokens_file: Path, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [PY, "-m", "bench.bots", "_loadgen", url, str(tokens_file), mode]
    command += [str(args.concurrency), str(args.rate), str(args.warmup), str(args.duration)]
    done = subprocess.run(command, cwd=BASE_DIR, capture_output=True, text=True, timeout=args.duration + 120)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout)


# The load generator (a separate process): keep-alive connections POSTing signals.


def _request(host: str, token: str, n: int) -> bytes:
    body = json.dumps({"id": f"{os.getpid()}-{n}", "action": "buy", "symbol": SYMBOL, "qty": "1"}).encode()
    head = f"POST /hooks/bots/{token} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class _Pool:
    """Idle keep-alive connections; a new one is opened when none is idle (open loop)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port, self.idle, self.opened = host, port, [], 0

    async def take(self) -> _Connection:
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed:
                return connection
        _, connection = await asyncio.get_running_loop().create_connection(_Connection, self.host, self.port)
        self.opened += 1
        return connection


async def _one(pool: _Pool, raw: bytes, due: float, record: list[tuple[float, float, int]]) -> None:
    connection = await pool.take()
    try:
        status, close = await connection.request(raw)
    except (OSError, ConnectionError):
        record.append((time.perf_counter(), time.perf_counter() - due, 0))
        return
    finished = time.perf_counter()
    record.append((finished, finished - due, status))
    if not close:
        pool.idle.append(connection)


async def _closed_loop(pool: _Pool, requests: Iterator[bytes], stop_at: float, record: list[Any]) -> None:
    while time.perf_counter() < stop_at:
        await _one(pool, next(requests), time.perf_counter(), record)


async def _run_load(
    url: str, tokens: list[str], mode: str, concurrency: int, rate: float, window: tuple[float, float]
) -> tuple[list[Any], _Pool]:
    host_port = url.split("//", 1)[1]
    host, port = host_port.split(":")
    pool = _Pool(host, int(port))
    counter = iter(range(10**9))
    requests = (_request(host_port, tokens[n % len(tokens)], n) for n in counter)
    record: list[Any] = []
    if mode == "closed":
        await asyncio.gather(*(_closed_loop(pool, requests, window[1], record) for _ in range(concurrency)))
        return record, pool
    tasks, start, n = [], time.perf_counter(), 0
    while (due := start + n / rate) < window[1]:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(_one(pool, next(requests), due, record)))
        n += 1
    await asyncio.wait(tasks, timeout=10)
    return record, pool


def _loadgen_main(argv: list[str]) -> int:
    url, tokens_file, mode, concurrency, rate, warmup, duration = argv
    tokens = Path(tokens_file).read_text().split()
    begin = time.perf_counter()
    window = (begin + float(warmup), begin + float(warmup) + float(duration))
    record, pool = _event_loop_run(_run_load(url, tokens, mode, int(concurrency), float(rate), window))
    measured = [(latency, status) for done, latency, status in record if window[0] <= done < window[1]]
    latencies = sorted(latency for latency, _ in measured)
    statuses: dict[str, int] = {}
    for _, status in measured:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    accepted = statuses.get("202", 0)
    print(
        json.dumps(
            {
                "mode": mode,
                "concurrency": int(concurrency) if mode == "closed" else pool.opened,
                "offered_rate": float(rate) if mode == "open" else None,
                "duration_s": float(duration),
                "requests": len(measured),
                "accepted_rps": round(accepted / float(duration), 1),
                "accepted_with_warmup": sum(1 for _, _, status in record if status == 202),
                "p50_ms": round(_percentile(latencies, 0.50) * 1000, 2),
                "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
                "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
                "statuses": statuses,
            }
        )
    )
    return 0


# --- 2. fan-out ------------------------------------------------------------------------------


def _fanout_fixture(count: int) -> dict[str, Any]:
    """A leader (published webhook bot) and `count` followers, each of its own user with paper connected."""
    from django.utils import timezone

    from accounts.models import Tier, User
    from bots.models import Bot, BotSource, BotState
    from bots.services.bots import bot_create
    from brokers.adapters.paper.engine import STARTING_CASH
    from brokers.models import BalanceSnapshot, BrokerConnection, ConnectionStatus, PaperAccount

    stamp = int(time.time())
    leader_user = User.objects.create_user(email=f"leader-{stamp}@example.com", tier=Tier.PREMIUM)
    values = {
        "name": "leader",
        "state": BotState.PAPER,
        "published": True,
        "targets": [{"broker": "paper", "multiplier": "1"}],
    }
    leader = bot_create(user=leader_user, values=values)
    warm = bot_create(user=leader_user, values={**values, "name": "warm-up", "published": False})
    emails = [f"follower-{stamp}-{i}@example.com" for i in range(count)]
    User.objects.bulk_create([User(email=e, tier=Tier.FREE, password="!") for e in emails])  # noqa: S106 - unusable
    users = list(User.objects.filter(email__in=emails).values_list("pk", flat=True))
    now = timezone.now()
    # The paper broker as connection_configure leaves it (no credentials, account opened, first snapshot),
    # written in bulk: 1,000 configures one by one would take longer than the measurement.
    BrokerConnection.objects.bulk_create(
        [
            BrokerConnection(
                user_id=u,
                broker="paper",
                label="Paper broker",
                paper=True,
                status=ConnectionStatus.CONNECTED,
                account_id=f"paper-{u}",
                last_checked_at=now,
            )
            for u in users
        ]
    )
    PaperAccount.objects.bulk_create(
        [PaperAccount(account_id=f"paper-{u}", user_id=u, cash=STARTING_CASH) for u in users]
    )
    connections = BrokerConnection.objects.filter(user_id__in=users)
    BalanceSnapshot.objects.bulk_create(
        [
            BalanceSnapshot(
                connection_id=c,
                currency="USD",
                cash=STARTING_CASH,
                equity=STARTING_CASH,
                buying_power=STARTING_CASH,
                as_of=now,
            )
            for c in connections.values_list("pk", flat=True)
        ]
    )
    Bot.objects.bulk_create(
        [
            Bot(
                user_id=u,
                name="follower",
                state=BotState.PAPER,
                source=BotSource.FOLLOW,
                follows_id=leader.bot.pk,
                targets=[{"broker": "paper", "multiplier": "1"}],
            )
            for u in users
        ]
    )
    return {"leader": leader, "warm": warm, "users": users, "leader_user": leader_user.pk}


def _fanout(env: dict[str, str], args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    from brokers.models import Order

    fixture = _fanout_fixture(args.followers)
    users = fixture["users"]
    with (
        _web(env, scratch / "web-fanout.log", args.threads) as url,
        _worker(env, scratch / "worker.log", args.worker_concurrency),
    ):
        _warm_up(url, fixture, scratch / "worker.log")
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        status = _post(url, fixture["leader"].token, {"id": "leader-1", "action": "buy", "symbol": SYMBOL})
        filled = Order.objects.filter(user_id__in=users, status="filled", created_at__gte=started_at)
        deadline = time.monotonic() + 120
        while (done := filled.count()) < args.followers and time.monotonic() < deadline:
            time.sleep(0.02)
        waited = time.perf_counter() - started
    return _fanout_figures(fixture, started_at, status, done, waited, args.followers)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def _warm_up(url: str, fixture: dict[str, Any], log: Path) -> None:
    """One signal of an unfollowed bot through web and worker, so imports and connections are made."""
    from brokers.models import Order

    _post(url, fixture["warm"].token, {"id": "warm-1", "action": "buy", "symbol": SYMBOL})
    deadline = time.monotonic() + 60
    while not Order.objects.filter(user_id=fixture["leader_user"], status="filled").exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the warm-up signal was not filled within 60 s; worker log: {_tail(log)}")
        time.sleep(0.05)
    time.sleep(1.0)


def _post(url: str, token: str, body: dict[str, Any]) -> int:
    import urllib.request

    request = urllib.request.Request(
        f"{url}/hooks/bots/{token}", data=json.dumps(body).encode(), headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def _fanout_figures(
    fixture: dict[str, Any], started_at: datetime, status: int, done: int, waited: float, count: int
) -> dict[str, Any]:
    from django.db.models import Max, Min

    from bots.models import Signal, SignalStatus
    from brokers.models import Order

    def after(moment: datetime | None) -> float | None:
        return None if moment is None else round((moment - started_at).total_seconds(), 3)

    leader_signal = Signal.objects.filter(bot=fixture["leader"].bot).order_by("-received_at").first()
    orders = Order.objects.filter(user_id__in=fixture["users"], created_at__gte=started_at)
    times = orders.aggregate(first=Min("created_at"), last=Max("created_at"), filled=Max("updated_at"))
    copies = Signal.objects.filter(leader_signal=leader_signal)
    return {
        "followers": count,
        "webhook_status": status,
        "follower_orders_filled": done,
        "follower_orders": orders.count(),
        "follower_signals": copies.count(),
        "follower_signals_executed": copies.filter(status=SignalStatus.EXECUTED).count(),
        "seconds_to_leader_decided": after(leader_signal.decided_at if leader_signal else None),
        "seconds_to_first_follower_order": after(times["first"]),
        "seconds_to_last_follower_order": after(times["last"]),
        "seconds_to_last_follower_filled": after(times["filled"]) if done == count else None,
        "waited_s": round(waited, 3),
    }


# --- report ----------------------------------------------------------------------------------


def _report(report: dict[str, Any]) -> None:
    intake = report.get("intake") or {}
    for mode, row in intake.items():
        print(
            f"intake {mode:<6} accepted {row['accepted_rps']:>7,.0f} signals/s  p50 {row['p50_ms']:>6} ms  "
            f"p99 {row['p99_ms']:>6} ms  connections {row['concurrency']}  statuses {row['statuses']}  "
            f"recorded = 202s: {row['recorded_matches_202']}"
        )
    fan = report.get("fanout")
    if fan:
        print(
            f"fan-out to {fan['followers']} followers: last follower order filled after "
            f"{fan['seconds_to_last_follower_filled']} s (leader decided {fan['seconds_to_leader_decided']} s, "
            f"first follower order {fan['seconds_to_first_follower_order']} s, "
            f"last {fan['seconds_to_last_follower_order']} s); {fan['follower_orders_filled']}/{fan['followers']} "
            f"filled, {fan['follower_signals_executed']} signals executed"
        )
    print(
        f"Targets: intake >= {TARGET_INTAKE_RPS} signals/s with p99 <= {TARGET_INTAKE_P99_MS:.0f} ms; "
        f"fan-out to 1,000 followers <= {TARGET_FANOUT_SECONDS:.0f} s."
    )


def main(argv: list[str]) -> int:
    if argv[:1] == ["_loadgen"]:
        return _loadgen_main(argv[1:])
    args = _arguments(argv)
    started = time.monotonic()
    with redis_url() as url, tempfile.TemporaryDirectory(prefix="tradewire-bench-bots-") as scratch_dir:
        scratch = Path(scratch_dir)
        env = environment(data_dir=scratch_dir, redis_url=url)
        fixture = prepare(env)
        report: dict[str, Any] = {"benchmark": "bots", "settings": vars(args)}
        if not args.skip_intake:
            report["intake"] = _intake(env, args, scratch, fixture.user_id)
        if not args.skip_fanout:
            report["fanout"] = _fanout(env, args, scratch)
    report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    report["seconds"] = round(time.monotonic() - started, 1)
    report["machine"] = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "database": env["DATABASE_URL"].split(":", 1)[0],
    }
    _report(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nWritten to {RESULTS.relative_to(BASE_DIR)} ({report['seconds']} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
