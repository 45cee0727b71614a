"""Talking to a broker: the adapter built from vault credentials, behind the shared rate limiter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from brokers import ratelimit
from brokers.adapters.base import AdapterContext, BrokerAdapter, RateLimited
from brokers.adapters.registry import BrokerSpec, build_adapter, get_spec
from brokers.models import BrokerConnection
from brokers.vault import credentials_load


class LimitedAdapter:
    """Wraps an adapter so every broker call first takes a slot in the broker's Redis bucket.

    A broker's own 429 (RateLimited from the adapter) feeds back into the bucket, so no
    process calls that broker again before its retry-after has passed.
    """

    def __init__(self, adapter: BrokerAdapter, *, spec: BrokerSpec, identity: str, wait: float) -> None:
        self.adapter = adapter
        self.spec = spec
        self.identity = identity
        self.wait = wait

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.adapter, name)
        if name == "close" or not callable(method):
            return method

        def limited(*args: Any, **kwargs: Any) -> Any:
            ratelimit.acquire(broker=self.spec.key, identity=self.identity, limit=self.spec.rate_limit, wait=self.wait)
            try:
                return method(*args, **kwargs)
            except RateLimited as exc:
                ratelimit.penalize(
                    broker=self.spec.key,
                    identity=self.identity,
                    limit=self.spec.rate_limit,
                    retry_after=exc.retry_after or 1.0,
                )
                raise

        return limited


def _identity(spec: BrokerSpec, credentials: Mapping[str, str], fallback: str) -> str:
    """The bucket a call counts against, as the broker counts it (the limiter hashes it)."""
    if spec.rate_limit.scope == "credential" and spec.hint_field and credentials.get(spec.hint_field):
        return credentials[spec.hint_field]
    return fallback


def adapter_build(
    *, spec: BrokerSpec, credentials: Mapping[str, str], paper: bool, context: AdapterContext, wait: float = 0.0
) -> LimitedAdapter:
    adapter = build_adapter(spec.key, credentials, paper=paper, context=context)
    identity = _identity(spec, credentials, f"user:{context.user_id}:{'paper' if paper else 'live'}")
    return LimitedAdapter(adapter, spec=spec, identity=identity, wait=wait)


def adapter_for(connection: BrokerConnection, *, wait: float = 0.0) -> LimitedAdapter:
    """An adapter for a stored connection; it opens the vault itself (callers pass ids, never secrets)."""
    spec = get_spec(connection.broker)
    context = AdapterContext(user_id=connection.user_id, connection_id=connection.pk)
    credentials = credentials_load(connection=connection)
    return adapter_build(spec=spec, credentials=credentials, paper=connection.paper, context=context, wait=wait)
