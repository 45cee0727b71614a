"""Kraken nonces that strictly increase per API key across every process.

Kraken refuses a private call whose nonce is not greater than the last one its key sent
(`EAPI:Invalid nonce`). ccxt's own nonce is the clock in milliseconds, per instance: two workers
with one key can send the same or a smaller value. Here every nonce comes from one Redis counter
per key (hashed, so no key id reaches Redis), raised to the Redis server's clock in microseconds:
strictly increasing for the key, and still ahead of the clock after the counter expires.
Two calls can still reach Kraken in the other order than their nonces; the client retries such a
refusal once with a fresh nonce.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Final

import redis
from redis.commands.core import Script

from brokers.adapters.base import BrokerUnavailable
from config.redis import get_redis

# The counter outlives any pause between calls of a key; after it expires the clock seeds it again.
TTL_SECONDS: Final = 7 * 24 * 3600

# KEYS[1]: the key's counter. ARGV[1]: TTL in seconds. Returns the nonce as a plain integer string
# (Lua's own number-to-string keeps 14 significant digits; a microsecond clock has 16).
_LUA: Final = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local nonce = math.max(tonumber(redis.call('GET', KEYS[1]) or 0) + 1, now)
local text = string.format('%d', nonce)
redis.call('SET', KEYS[1], text, 'EX', tonumber(ARGV[1]))
return text
"""


@cache
def _script() -> Script:
    return get_redis().register_script(_LUA)


class SharedNonce:
    """ccxt's `nonce` hook for one API key: `ccxt.kraken({"nonce": SharedNonce(key), ...})`."""

    def __init__(self, api_key: str) -> None:
        self.key = "tw:kraken:nonce:" + hashlib.sha256(api_key.encode()).hexdigest()

    def __call__(self) -> int:
        try:
            return int(_script()(keys=[self.key], args=[TTL_SECONDS]))
        except redis.RedisError as exc:
            # Without the shared counter a nonce could repeat another worker's: send nothing.
            raise BrokerUnavailable("Kraken calls are paused: the shared nonce counter is unavailable.") from exc
