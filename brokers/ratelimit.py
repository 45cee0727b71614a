"""Per-broker rate limiting shared by every web and worker process.

Each bucket is one Redis key holding a GCRA (generic cell rate algorithm) state: the bucket's
theoretical arrival time (TAT) on the Redis server's clock. One Lua script reads the clock, checks
and updates the TAT atomically, so every process on every host sees one bucket and one clock.
A call fits when it would not push the TAT more than `burst * interval` ahead of now.

The two models of `RateLimit`:

- `"window"`: never more than `requests` calls in ANY window of `per_seconds` seconds (sliding,
  boundaries included). GCRA with burst b and emission interval T admits at most b + W/T calls in a
  window W, so b = max(1, requests // 10) (or the limit's own `burst`) and T = per_seconds / (requests - b),
  rounded up to the microsecond: a small burst, then one call every T. The steady rate is
  (requests - b) / per_seconds, at least 90% of the limit with the default burst.
- `"decay"` (Kraken's counter decay): a counter of at most `requests` that decays by
  requests / per_seconds each second; i.e. a bucket of `requests` refilled at that rate: a burst of
  `requests`, then one call every per_seconds / requests seconds.

Buckets are keyed `tw:rl:{broker}:{sha256(identity)}` so no key id or account number reaches Redis,
and expire when they are full again, so an idle bucket costs nothing.

If Redis cannot be reached the limiter fails closed: `acquire` raises `RateLimited` (HTTP 429 in
the contract) with a short `retry_after`. A broker call nobody counted could get an account banned,
and a 429 tells the client the truth: try again shortly. The wait is bounded by the process-wide
client's socket timeout (`REDIS_SOCKET_TIMEOUT`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from functools import cache
from typing import Final

import redis
from redis.commands.core import Script

from brokers.adapters.base import RateLimited
from brokers.adapters.registry import RateLimit
from config.redis import get_redis

logger = logging.getLogger(__name__)

# Seconds a caller is told to wait when the limiter itself is down: long enough not to hammer a
# recovering Redis, short enough that a blip does not stall trading.
UNAVAILABLE_RETRY_AFTER: Final = 1.0

_MICROS: Final = 1_000_000

# KEYS[1]: the bucket. ARGV: emission interval (µs), burst, cost, hold (µs; > 0 to penalize).
# Returns {admitted (0|1), delay until the call would fit (µs), the server clock (µs)}.
# The TAT is formatted explicitly as a plain integer: Lua's own number-to-string keeps only 14
# significant digits, which would lose the microseconds of a 16-digit timestamp.
_LUA: Final = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local hold = tonumber(ARGV[4])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or 0), now)
local new_tat
if hold > 0 then
  new_tat = math.max(tat, now + hold + (burst - 1) * interval)
else
  new_tat = tat + cost * interval
  local delay = new_tat - now - burst * interval
  if delay > 0 then
    return {0, delay, now}
  end
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, 0, now}
"""


@dataclass(frozen=True)
class _Bucket:
    key: str
    interval_us: int
    burst: int


@dataclass(frozen=True)
class _Verdict:
    admitted: bool
    delay: float  # seconds until the call would fit; 0 when admitted
    at: float  # the Redis clock when the script decided, in epoch seconds


def acquire(*, broker: str, identity: str, limit: RateLimit, wait: float = 0.0, cost: int = 1) -> float:
    """Take `cost` slots from the bucket of (`broker`, `identity`) before calling the broker.

    `identity` is what the broker counts by (API key id, account number, ...); it is hashed
    before it reaches Redis. When no slot is free and the delay until one is fits in `wait`
    seconds, sleeps and tries again; the total sleep never exceeds `wait`. Otherwise raises
    `RateLimited` at once, with `retry_after` the delay until the call would fit. Also raises
    `RateLimited` (retry_after=`UNAVAILABLE_RETRY_AFTER`) when Redis is unreachable: fail closed.
    `cost` must not exceed the bucket's burst, or the call could never fit (ValueError).

    Returns the moment the slot was taken, in epoch seconds on the Redis server's clock.
    """
    bucket = _bucket(broker, identity, limit)
    if not 1 <= cost <= bucket.burst:
        raise ValueError(f"cost must be between 1 and {bucket.burst} for this limit, not {cost}")
    deadline = time.monotonic() + wait
    while True:
        verdict = _take(bucket, broker=broker, cost=cost)
        if verdict.admitted:
            return verdict.at
        remaining = deadline - time.monotonic()
        if verdict.delay > remaining:
            raise RateLimited(f"{broker} rate limit reached", retry_after=verdict.delay)
        # Another process may take the slot first; the next verdict then says how much longer.
        time.sleep(verdict.delay)


def penalize(*, broker: str, identity: str, limit: RateLimit, retry_after: float) -> None:
    """Feed a broker's own 429 back: no process is admitted to this bucket for `retry_after` seconds.

    Never shortens a hold already in place. After the hold, calls resume one per emission interval
    rather than with a fresh burst. If Redis is down this only logs: `acquire` fails closed anyway.
    """
    if retry_after <= 0:
        return
    bucket = _bucket(broker, identity, limit)
    try:
        _run(bucket, cost=0, hold_us=math.ceil(retry_after * _MICROS))
    except redis.RedisError as exc:
        logger.warning("rate limiter unavailable, %s penalty not recorded: %s", broker, exc)


def _take(bucket: _Bucket, *, broker: str, cost: int) -> _Verdict:
    try:
        return _run(bucket, cost=cost, hold_us=0)
    except redis.RedisError as exc:
        logger.warning("rate limiter unavailable, refusing a %s call: %s", broker, exc)
        raise RateLimited(
            f"{broker} rate limiter unavailable; not calling the broker", retry_after=UNAVAILABLE_RETRY_AFTER
        ) from exc


def _run(bucket: _Bucket, *, cost: int, hold_us: int) -> _Verdict:
    args = [bucket.interval_us, bucket.burst, cost, hold_us]
    admitted, delay_us, now_us = _script()(keys=[bucket.key], args=args, client=get_redis())
    return _Verdict(admitted=bool(admitted), delay=delay_us / _MICROS, at=now_us / _MICROS)


@cache
def _script() -> Script:
    # Registering only hashes the text; the server loads it on first use (EVALSHA, then SCRIPT LOAD).
    return get_redis().register_script(_LUA)


def _bucket(broker: str, identity: str, limit: RateLimit) -> _Bucket:
    interval_us, burst = _shape(limit)
    digest = hashlib.sha256(identity.encode()).hexdigest()
    return _Bucket(key=f"tw:rl:{broker}:{digest}", interval_us=interval_us, burst=burst)


def _shape(limit: RateLimit) -> tuple[int, int]:
    """(emission interval in µs, burst) for `limit`; the interval rounds up so the limit always holds."""
    window_us = round(limit.per_seconds * _MICROS)
    if limit.model == "decay":
        return _ceil_div(window_us, limit.requests), limit.requests
    burst = min(limit.burst, limit.requests) if limit.burst else max(1, limit.requests // 10)
    spaced = limit.requests - burst
    if spaced == 0:
        # One request per window: the next may come only strictly after the window has passed.
        return window_us + 1, burst
    return _ceil_div(window_us, spaced), burst


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
