"""What both fan-out benchmarks share: the app's scratch database and settings, CPU meters, percentiles."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil

from bench._fanout_servers import raise_fd_limit
from config.embedded import redis_url

BIN_SECONDS = 0.0001  # the client's latency histogram resolution


@dataclass(frozen=True)
class Context:
    env: dict[str, str]  # for every server: the app's scratch database, REDIS_URL
    token: str  # the demo user's API token (every client shares it: uniqueUsers = 1)
    redis_url: str
    logs: Path  # every process's output: bench/results/<benchmark>_logs/


@contextlib.contextmanager
def app_context(logs: Path) -> Iterator[Context]:
    """A migrated scratch SQLite database with the demo user, and Django set up in this process.

    The driver publishes through the app's own `quotes_publish`, so it runs with the same
    settings as the servers.
    """
    raise_fd_limit()  # children inherit it too
    with redis_url() as url, tempfile.TemporaryDirectory(prefix="tradewire-fanout-") as scratch:
        os.environ["REDIS_URL"] = url
        from tests.processes import app_database

        with app_database(Path(scratch)) as (db_env, token):
            env = {**os.environ, **db_env, "REDIS_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
            env.setdefault("LOG_LEVEL", "WARNING")
            os.environ.update(env)
            import django

            django.setup()
            logs.mkdir(parents=True, exist_ok=True)
            for old in logs.glob("*.log"):
                old.unlink()
            yield Context(env=env, token=token, redis_url=url, logs=logs)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM both unwind as KeyboardInterrupt, so every `finally` stops what it started
    (a driver killed outright still takes its children along: see child_setup)."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Prices:
    """A new price on every call: the app publishes only quotes whose figures changed."""

    def __init__(self) -> None:
        self.step = random.randrange(10**6)  # differs from whatever an earlier run stored last

    def next(self, symbols: Iterable[str]) -> dict[str, Decimal]:
        self.step += 1
        return {s: Decimal(100 + i) + Decimal(self.step % 10**6) / 100 for i, s in enumerate(symbols)}


class CpuMeter:
    """CPU seconds used by given processes and by the whole machine between start() and read()."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.procs = {name: [psutil.Process(p) for p in ps] for name, ps in pids.items()}
        self.begin = self._sample()
        self.wall = time.monotonic()

    @staticmethod
    def _busy() -> float:
        return machine_busy()

    def _sample(self) -> dict[str, float]:
        sample = {"machine": self._busy()}
        for name, procs in self.procs.items():
            total = 0.0
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    total += times.user + times.system
            sample[name] = total
        return sample

    def read(self) -> dict[str, float]:
        """CPU seconds per name, `elsewhere` (all other work), and `wall`: the seconds measured."""
        end = self._sample()
        used = {name: round(end[name] - self.begin[name], 3) for name in end}
        used["elsewhere"] = round(used["machine"] - sum(v for k, v in used.items() if k != "machine"), 3)
        used["wall"] = round(time.monotonic() - self.wall, 3)
        return used


def machine_busy() -> float:
    """CPU seconds every core has spent busy since boot (guest time is already inside user time)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + sum(getattr(t, f, 0.0) for f in ("irq", "softirq", "steal")))


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (of 20 values, p99 is the largest)."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, -(-len(sorted_values) * fraction // 1) - 1))
    return sorted_values[int(index)]


def histogram_merge(reports: list[dict[str, Any]]) -> Counter[int]:
    merged: Counter[int] = Counter()
    for report in reports:
        merged.update({int(k): v for k, v in report["histogram"].items()})
    return merged


def histogram_percentile(histogram: Counter[int], fraction: float) -> float:
    """The `fraction` percentile of a latency histogram, in milliseconds (upper edge of its bin)."""
    total = sum(histogram.values())
    if not total:
        return float("nan")
    rank, seen = max(1, -(-total * fraction // 1)), 0
    for bin_index in sorted(histogram):
        seen += histogram[bin_index]
        if seen >= rank:
            return (bin_index + 1) * BIN_SECONDS * 1000
    return float("nan")


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


_STARTED = time.monotonic()


def say(text: str) -> None:
    print(text, flush=True)


def progress(text: str) -> None:
    """A progress line, stamped with the seconds since the benchmark started."""
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {text}", flush=True)


def background_cores(seconds: float = 1.0) -> float:
    """Cores busy on this machine over `seconds` (nothing of this benchmark running yet)."""
    before, wall = machine_busy(), time.monotonic()
    time.sleep(seconds)
    return round((machine_busy() - before) / (time.monotonic() - wall), 2)


def wait_for_quiet(max_wait: float, *, threshold: float = 0.3) -> float:
    """Wait (bounded) until other work on the machine uses under `threshold` cores; return what was seen.

    Every figure here is CPU-bound on 2 cores: another benchmark or test suite running at the
    same time skews them all, so it is waited out, and reported when it was not.
    """
    deadline = time.monotonic() + max_wait
    busy = background_cores()
    while busy >= threshold and time.monotonic() < deadline:
        say(f"  the machine is busy ({busy:.2f} cores in use elsewhere); waiting for quiet...")
        time.sleep(4)
        busy = background_cores()
    return busy


def run_and_save(
    run: Callable[[], dict[str, Any]], show: Callable[[dict[str, Any]], None], results: Path
) -> dict[str, Any] | None:
    """Run a benchmark under signal handling, print and save its report; None when interrupted."""
    try:
        with stop_on_signals():
            report = run()
    except KeyboardInterrupt:
        say("\ninterrupted: every server and client process started was stopped; no results written")
        return None
    show(report)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(report, indent=2) + "\n")
    say(f"\nwrote {results.relative_to(results.parents[2])}")
    return report
