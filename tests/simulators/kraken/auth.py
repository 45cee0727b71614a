"""How Kraken admits a private call: key, signature, nonce, then the per-key call counter.

https://docs.kraken.com/api/docs/guides/spot-rest-auth: `API-Key` names the key; `API-Sign` is
base64(HMAC-SHA512(key = base64decode(secret), msg = URI path + SHA256(nonce + POST body))).
The nonce travels in the body and must be greater than every nonce the key sent before.

https://docs.kraken.com/api/docs/guides/spot-rest-ratelimits: each key has a counter, at most 15
on the Starter tier, decaying 0.33 per second; a call adds 1 (ledger and trade history 2), AddOrder
and CancelOrder add nothing there but count on the matching engine's own per-pair counter
(https://docs.kraken.com/api/docs/guides/spot-ratelimits: Starter threshold 60, decay 1/s, an
order +1, a cancel +8 down to 0 the older the order).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

# Seconds an order has lived → what cancelling it adds to the pair's trading counter.
CANCEL_PENALTIES: tuple[tuple[float, int], ...] = ((5, 8), (10, 6), (15, 5), (45, 4), (90, 2), (300, 1))


class KrakenError(Exception):
    """A Kraken error string (`EOrder:Insufficient funds`), answered as {"error": [...]}."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class DecayCounter:
    """A counter that may not exceed `limit` and falls by `decay` per second."""

    limit: float
    decay: float
    value: float = 0.0
    at: float = 0.0

    def add(self, cost: float, now: float) -> bool:
        self.value = max(0.0, self.value - (now - self.at) * self.decay)
        self.at = now
        if cost and self.value + cost > self.limit:
            return False
        self.value += cost
        return True


@dataclass
class Tier:
    counter_max: float = 15  # Starter
    counter_decay: float = 0.33
    trading_max: float = 60
    trading_decay: float = 1.0


def make_credentials() -> tuple[str, str]:
    """A fresh API key and its base64 private key, shaped like Kraken's."""
    key = base64.b64encode(secrets.token_bytes(42)).decode()
    secret = base64.b64encode(secrets.token_bytes(64)).decode()
    return key, secret


def sign(path: str, body: str, nonce: str, secret: str) -> str:
    digest = hashlib.sha256((nonce + body).encode()).digest()
    mac = hmac.new(base64.b64decode(secret), path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


@dataclass
class KeyRing:
    """The keys the account accepts, their last nonces and their counters."""

    clock: Callable[[], float] = time.monotonic
    tier: Tier = field(default_factory=Tier)
    secrets: dict[str, str] = field(default_factory=dict)
    nonces: dict[str, int] = field(default_factory=dict)
    seen: list[tuple[str, int]] = field(default_factory=list)  # (key, nonce) in arrival order
    # Refuse this many more calls' nonces, as Kraken does when a later nonce of the key arrived first.
    overtaken: int = 0
    _counters: dict[str, DecayCounter] = field(default_factory=dict)
    _trading: dict[tuple[str, str], DecayCounter] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, secret: str) -> None:
        self.secrets[key] = secret

    def admit(self, *, path: str, headers: dict[str, str], body: bytes, cost: float) -> dict[str, str]:
        """The call's parameters once key, signature, nonce and counter pass; raises KrakenError."""
        key, text = headers.get("api-key", ""), body.decode("utf-8", "replace")
        if key not in self.secrets:
            raise KrakenError("EAPI:Invalid key")
        params = _params(text, json_body="json" in headers.get("content-type", ""))
        nonce = params.get("nonce", "")
        if not nonce.isdigit():
            raise KrakenError("EAPI:Invalid nonce")
        if not hmac.compare_digest(headers.get("api-sign", ""), sign(path, text, nonce, self.secrets[key])):
            raise KrakenError("EAPI:Invalid signature")
        with self._lock:
            self.seen.append((key, int(nonce)))
            if int(nonce) <= self.nonces.get(key, 0) or self._overtaken():
                raise KrakenError("EAPI:Invalid nonce")
            self.nonces[key] = int(nonce)
            if not self._counter(key).add(cost, self.clock()):
                raise KrakenError("EAPI:Rate limit exceeded")
        return params

    def _overtaken(self) -> bool:
        if self.overtaken <= 0:
            return False
        self.overtaken -= 1
        return True

    def trade(self, key: str, pair: str, cost: float) -> None:
        """Count an AddOrder/CancelOrder on the pair's matching-engine counter."""
        with self._lock:
            counter = self._trading.setdefault(
                (key, pair), DecayCounter(self.tier.trading_max, self.tier.trading_decay, at=self.clock())
            )
            if not counter.add(cost, self.clock()):
                raise KrakenError("EOrder:Rate limit exceeded")

    def _counter(self, key: str) -> DecayCounter:
        if key not in self._counters:
            self._counters[key] = DecayCounter(self.tier.counter_max, self.tier.counter_decay, at=self.clock())
        return self._counters[key]


def _params(text: str, *, json_body: bool) -> dict[str, str]:
    """Form fields (`close[price]` kept as one name), or a JSON body's, which Kraken also accepts."""
    if not json_body:
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        loaded = json.loads(text or "{}")
    except ValueError as exc:
        raise KrakenError("EGeneral:Invalid arguments") from exc
    return {name: str(value) for name, value in loaded.items()} if isinstance(loaded, dict) else {}


def cancel_penalty(age: float) -> int:
    for limit, penalty in CANCEL_PENALTIES:
        if age < limit:
            return penalty
    return 0
