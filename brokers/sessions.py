"""Sessions with brokers: how an adapter is built, kept and reached, by its capability's session policy.

- `per_call`: built for one use and closed (the paper broker: nothing to keep).
- `pooled`: one adapter per connection per process, reused so its HTTP session keeps its
  connections alive; rebuilt when the connection's credentials change (`credentials_version`),
  dropped after an authentication failure and after `IDLE_SECONDS` unused. Calls on one pooled
  adapter are serialised, so an SDK client is never used by two threads at once.
- `gateway`: the connection's socket to the user's gateway (IB Gateway/TWS, OpenD) is owned by
  the gateway worker (`brokers.gateway`); calls from any other process are routed to it.

Every broker call passes the shared Redis rate limiter first, in the bucket of its kind of call
(capabilities' `rate_limits`), and a broker's own 429 feeds back into that bucket. An adapter with
a `meter` (capabilities' `Meter`) is charged per request instead, as its broker counts. Callers
pass connections (ids); the vault is opened here, never by them.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from brokers import ratelimit
from brokers.adapters.base import AdapterContext, AuthenticationFailed, BrokerAdapter, RateLimited
from brokers.adapters.capabilities import CallKind, RateLimit
from brokers.adapters.registry import BrokerSpec, build_adapter, get_spec
from brokers.models import BrokerConnection
from brokers.vault import credentials_load, credentials_rotate

IDLE_SECONDS = 300.0
# How long a call waits for a rate-limit slot unless its caller says otherwise: long enough to
# ride out a broker's spacing between two calls of one operation, short enough not to stall a worker.
DEFAULT_WAIT_SECONDS = 2.0
# Which bucket each adapter method counts against; anything else is a query.
CALL_KINDS: dict[str, CallKind] = {"place_order": "orders", "cancel_order": "cancels", "quotes": "market_data"}
UNLIMITED = frozenset({"close", "subscribe", "heartbeat"})


class LimitedAdapter:
    """An adapter whose every broker call first takes a slot in the broker's Redis bucket for its kind."""

    def __init__(self, adapter: BrokerAdapter, *, spec: BrokerSpec, identities: Mapping[str, str], wait: float) -> None:
        self.adapter = adapter
        self.spec = spec
        self.identities = identities  # RateLimit.scope → who the broker counts by
        self.wait = wait

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.adapter, name)
        if name in UNLIMITED or name.startswith("_") or not callable(method):
            return method
        return functools.partial(self._call, name, method)

    def _call(self, name: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        charged: list[tuple[str, str, RateLimit]] = []  # the buckets taken from, the last one last
        refused_here = False

        def charge(kind: CallKind, cost: int = 1) -> None:
            nonlocal refused_here
            slot = self._slot(name, kind)
            try:
                ratelimit.acquire(broker=slot[0], identity=slot[1], limit=slot[2], wait=self.wait, cost=cost)
            except RateLimited:
                refused_here = True
                raise
            charged.append(slot)

        # Declared on the class: a gateway client answers any attribute (it forwards calls).
        metered = getattr(type(self.adapter), "meter", None) is not None
        if metered:
            self.adapter.meter = charge
        else:
            charge(CALL_KINDS.get(name, "queries"))
        try:
            return method(*args, **kwargs)
        except RateLimited as exc:
            if charged and not refused_here:  # the broker's own refusal: hold off the bucket it counted against
                bucket, identity, limit = charged[-1]
                ratelimit.penalize(broker=bucket, identity=identity, limit=limit, retry_after=exc.retry_after or 1.0)
            raise
        finally:
            if metered:
                self.adapter.meter = None

    def _slot(self, name: str, kind: CallKind) -> tuple[str, str, RateLimit]:
        """(bucket, identity, limit) of a call of `kind` made by adapter method `name`."""
        limits = self.spec.capabilities.rate_limits
        limit = limits.for_kind(kind)
        bucket = f"{self.spec.key}:{limits.bucket_name(kind)}"
        if limit.per_method:
            bucket = f"{bucket}:{name}"
        return bucket, self.identities[limit.scope], limit


def _identities(spec: BrokerSpec, credentials: Mapping[str, str], account: str) -> dict[str, str]:
    """What each scope of limit counts by (the limiter hashes it before it reaches Redis)."""
    key_id = credentials.get(spec.hint_field or "", "") or account
    return {"credential": key_id, "account": account, "ip": "site"}


def _limited(adapter: BrokerAdapter, spec: BrokerSpec, credentials: Mapping[str, str], account: str, wait: float):
    return LimitedAdapter(adapter, spec=spec, identities=_identities(spec, credentials, account), wait=wait)


def _account_identity(user_id: int, paper: bool, account_id: str = "") -> str:
    return account_id or f"user:{user_id}:{'paper' if paper else 'live'}"


@contextlib.contextmanager
def adapter_session_unsaved(
    *, spec: BrokerSpec, credentials: Mapping[str, str], paper: bool, user_id: int, wait: float = 0.0
) -> Iterator[LimitedAdapter]:
    """An adapter for credentials not stored yet (testing a connection): built, used once, closed."""
    adapter = build_adapter(spec.key, credentials, paper=paper, context=AdapterContext(user_id=user_id))
    try:
        yield _limited(adapter, spec, credentials, _account_identity(user_id, paper), wait)
    finally:
        adapter.close()


@contextlib.contextmanager
def broker_session(connection: BrokerConnection, *, wait: float = DEFAULT_WAIT_SECONDS) -> Iterator[LimitedAdapter]:
    """The adapter of a stored connection, by its session policy, behind the rate limiter."""
    spec = get_spec(connection.broker)
    account = _account_identity(connection.user_id, connection.paper, connection.account_id)
    policy = spec.capabilities.session
    if policy == "gateway":
        from brokers.gateway.client import GatewayClient

        yield _limited(GatewayClient(connection), spec, _hint_only(connection), account, wait)
    elif policy == "per_call":
        # A broker that takes no credentials (paper) has none stored: no vault read per call.
        credentials = credentials_load(connection=connection) if spec.credential_fields else {}
        adapter = adapter_for_connection(connection, credentials)
        try:
            yield _limited(adapter, spec, credentials, account, wait)
        finally:
            adapter.close()
    else:
        entry = _pooled(connection)
        with entry.lock:
            entry.used_at = time.monotonic()
            try:
                yield _limited(entry.adapter, spec, entry.credentials_hint, account, wait)
            except AuthenticationFailed:
                _evict(connection.pk)
                raise


def adapter_for_connection(connection: BrokerConnection, credentials: Mapping[str, str]) -> BrokerAdapter:
    """Build the connection's adapter, with a context that can save refreshed credentials back."""
    context = AdapterContext(
        user_id=connection.user_id,
        connection_id=connection.pk,
        credentials_update=functools.partial(credentials_rotate, connection_id=connection.pk),
    )
    return build_adapter(connection.broker, credentials, paper=connection.paper, context=context)


def _hint_only(connection: BrokerConnection) -> dict[str, str]:
    spec = get_spec(connection.broker)
    return {spec.hint_field: connection.credential_hint} if spec.hint_field else {}


# --- the per-process pool --------------------------------------------------------------------


@dataclass
class _Pooled:
    adapter: BrokerAdapter
    version: int
    credentials_hint: dict[str, str]  # only the key-id field, for the limiter's identity
    lock: threading.Lock = field(default_factory=threading.Lock)
    used_at: float = field(default_factory=time.monotonic)


_POOL: dict[int, _Pooled] = {}
_POOL_LOCK = threading.Lock()


def _pooled(connection: BrokerConnection) -> _Pooled:
    _sweep_idle()
    with _POOL_LOCK:
        entry = _POOL.get(connection.pk)
        if entry is not None and entry.version == connection.credentials_version:
            return entry
    credentials = credentials_load(connection=connection)
    spec = get_spec(connection.broker)
    hint = {spec.hint_field: credentials.get(spec.hint_field, "")} if spec.hint_field else {}
    fresh = _Pooled(adapter_for_connection(connection, credentials), connection.credentials_version, hint)
    with _POOL_LOCK:
        stale = _POOL.get(connection.pk)
        _POOL[connection.pk] = fresh
    if stale is not None:
        _close_later(stale)
    return fresh


def _evict(connection_id: int) -> None:
    with _POOL_LOCK:
        entry = _POOL.pop(connection_id, None)
    if entry is not None:
        _close_later(entry)


def _sweep_idle() -> None:
    cutoff = time.monotonic() - IDLE_SECONDS
    with _POOL_LOCK:
        idle = [pk for pk, entry in _POOL.items() if entry.used_at < cutoff and not entry.lock.locked()]
        entries = [_POOL.pop(pk) for pk in idle]
    for entry in entries:
        _close_later(entry)


def _close_later(entry: _Pooled) -> None:
    """Close an adapter once whoever is using it has finished (never under their feet)."""

    def close() -> None:
        with entry.lock, contextlib.suppress(Exception):
            entry.adapter.close()

    threading.Thread(target=close, name="tw-adapter-close", daemon=True).start()


def sessions_close_all() -> None:
    """Close every pooled adapter of this process (worker shutdown, tests)."""
    with _POOL_LOCK:
        entries = list(_POOL.values())
        _POOL.clear()
    for entry in entries:
        with contextlib.suppress(Exception):
            entry.adapter.close()
