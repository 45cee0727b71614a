"""The gateway worker: one long-lived socket per connection to a user's gateway (IB Gateway/TWS, OpenD).

`python manage.py gateway` runs a `GatewayHost`, a supervised process of its own (run by `make
run`; in production one or more beside the Celery workers). Each host leases the connections of
gateway brokers in Redis (`tw:gw:owner:<id>`, renewed every few seconds), so every connection has
exactly one owner across all hosts and a host that dies loses its leases within `LEASE_SECONDS`.
For each leased connection it keeps one adapter: it connects, subscribes to the broker's pushes
(fills and order changes reach `order_updates_apply` at once), checks the socket with a
heartbeat, and after a failure waits with exponential backoff before trying again, answering
calls meanwhile at once with `BrokerUnavailable` (never a hung worker).

Calls from other processes arrive on `tw:gw:req:<id>` (brokers.gateway.client) and are answered
on a reply list per call; calls from inside the owner process run directly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from django.db import close_old_connections
from django.utils import timezone
from redis import exceptions as redis_errors

from brokers.adapters.base import (
    AuthenticationFailed,
    BrokerAdapter,
    BrokerError,
    BrokerUnavailable,
    OrderState,
    StreamingAdapter,
)
from brokers.adapters.registry import BROKERS
from brokers.gateway import codec
from brokers.models import BrokerConnection, ConnectionStatus
from config.redis import get_redis

logger = logging.getLogger(__name__)

LEASE_SECONDS = 15
RENEW_SECONDS = 3.0
WANTED_POLL_SECONDS = 0.1
HEARTBEAT_SECONDS = 10.0
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
SUCCESS_RECORD_SECONDS = 60.0  # how often a healthy connection's last success is written
OWNER_KEY = "tw:gw:owner:{}"
REQUEST_KEY = "tw:gw:req:{}"
REPLY_KEY = "tw:gw:rep:{}"
WANTED_KEY = "tw:gw:wanted"
REPLY_TTL_SECONDS = 60

# Hosts running in this process, by id: a call whose owner is one of them runs directly.
LOCAL_HOSTS: dict[str, GatewayHost] = {}
DbGuard = Callable[[], contextlib.AbstractContextManager[Any]]


def gateway_brokers() -> list[str]:
    return [key for key, spec in BROKERS.items() if spec.capabilities.session == "gateway"]


class _Session:
    """One connection's adapter, its health and its backoff; calls on it run one at a time."""

    def __init__(self, host: GatewayHost, connection_id: int) -> None:
        self.host = host
        self.connection_id = connection_id
        self.lock = threading.Lock()
        self.adapter: BrokerAdapter | None = None
        self.version = -1
        self.down_since: datetime | None = None
        self.retry_at = 0.0
        self.backoff = BACKOFF_FIRST
        self.recorded_success = 0.0
        self.beaten = 0.0

    def call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with self.lock:
            adapter = self._ready()
            try:
                result = getattr(adapter, method)(*args, **kwargs)
            except (BrokerUnavailable, AuthenticationFailed) as exc:
                self._failed(exc)
                raise
            self._succeeded()
            return result

    def heartbeat(self) -> None:
        with contextlib.suppress(BrokerError), self.lock:
            adapter = self._ready()
            try:
                beat = getattr(adapter, "heartbeat", None)
                (beat or adapter.connect)()
            except (BrokerUnavailable, AuthenticationFailed) as exc:
                self._failed(exc)
                return
            self._succeeded()

    def _ready(self) -> BrokerAdapter:
        wait = self.retry_at - time.monotonic()
        if wait > 0 and self.down_since is not None:
            since = self.down_since.strftime("%Y-%m-%d %H:%M:%S UTC")
            raise BrokerUnavailable(f"The gateway has been unreachable since {since}; next try in {wait:.0f} s.")
        with self.host.db_guard():
            connection = BrokerConnection.objects.filter(pk=self.connection_id).first()
        if connection is None:
            raise BrokerUnavailable("This connection no longer exists.")
        if self.adapter is None or connection.credentials_version != self.version:
            return self._build(connection)
        return self.adapter

    def _build(self, connection: BrokerConnection) -> BrokerAdapter:
        from brokers.sessions import adapter_for_connection
        from brokers.vault import credentials_load

        self.close()
        with self.host.db_guard():
            credentials = credentials_load(connection=connection)
        adapter = adapter_for_connection(connection, credentials)
        if isinstance(adapter, StreamingAdapter):
            adapter.subscribe(lambda state: self.host.pushes.put((self.connection_id, state)))
        self.adapter, self.version = adapter, connection.credentials_version
        return adapter

    def _failed(self, exc: BrokerError) -> None:
        now = timezone.now()
        first = self.down_since is None
        self.down_since = self.down_since or now
        self.retry_at = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        if first:
            self.host.health(self.connection_id, error=exc.message)

    def _succeeded(self) -> None:
        recovered = self.down_since is not None
        self.down_since, self.retry_at, self.backoff = None, 0.0, BACKOFF_FIRST
        if recovered or time.monotonic() - self.recorded_success > SUCCESS_RECORD_SECONDS:
            self.recorded_success = time.monotonic()
            self.host.health(self.connection_id, error="")

    def close(self) -> None:
        if self.adapter is not None:
            with contextlib.suppress(Exception):
                self.adapter.close()
            self.adapter = None


class GatewayHost:
    """Leases gateway connections, keeps their sockets, serves calls on them; `run()` until `stop()`."""

    def __init__(self, *, db_guard: DbGuard = contextlib.nullcontext, workers: int = 16) -> None:
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.db_guard = db_guard
        self.sessions: dict[int, _Session] = {}
        self.pushes: queue.Queue[tuple[int, OrderState]] = queue.Queue()
        self._stop = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tw-gateway-call")
        self._threads: list[threading.Thread] = []

    # -- lifecycle --------------------------------------------------------------------------

    def run(self) -> None:
        LOCAL_HOSTS[self.id] = self
        for target in (self._lease_loop, self._dispatch_loop, self._push_loop, self._heartbeat_loop):
            thread = threading.Thread(target=target, name=f"tw-gateway-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)
        try:
            while not self._stop.is_set():
                with contextlib.suppress(redis_errors.RedisError):  # Redis away: the next turn retries
                    self._claim_wanted()  # a caller is waiting for these
                self._stop.wait(WANTED_POLL_SECONDS)
        finally:
            self._shutdown()

    def stop(self) -> None:
        self._stop.set()

    def _shutdown(self) -> None:
        LOCAL_HOSTS.pop(self.id, None)
        for thread in self._threads:
            thread.join(timeout=5)
        self._executor.shutdown(wait=True, cancel_futures=True)
        for connection_id, session in list(self.sessions.items()):
            session.close()
            self._release(connection_id)
        self.sessions.clear()

    # -- leases -----------------------------------------------------------------------------

    def _lease_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._lease_round()
            except Exception:  # Redis or the database away: the next round retries
                logger.warning("gateway lease round failed", exc_info=True)
            finally:
                close_old_connections()
            self._stop.wait(RENEW_SECONDS)

    def _lease_round(self) -> None:
        for connection_id in list(self.sessions):
            if not self._renew(connection_id):
                self.sessions.pop(connection_id).close()
        for connection_id in self._candidates():
            self._lease(connection_id)

    def _claim_wanted(self) -> None:
        redis = get_redis()
        for member in redis.smembers(WANTED_KEY):
            connection_id = int(member)
            if connection_id in self.sessions or self._lease(connection_id):
                redis.srem(WANTED_KEY, connection_id)

    def _lease(self, connection_id: int) -> bool:
        if connection_id in self.sessions:
            return False
        if not get_redis().set(OWNER_KEY.format(connection_id), self.id, nx=True, ex=LEASE_SECONDS):
            return False
        self.sessions[connection_id] = _Session(self, connection_id)
        return True

    def _candidates(self) -> set[int]:
        with self.db_guard():
            ids = set(
                BrokerConnection.objects.filter(broker__in=gateway_brokers())
                .exclude(status=ConnectionStatus.DISABLED)
                .values_list("pk", flat=True)
            )
            close_old_connections()
        return ids

    def _renew(self, connection_id: int) -> bool:
        key = OWNER_KEY.format(connection_id)
        redis = get_redis()
        if (redis.get(key) or b"").decode() != self.id:
            return False
        return bool(redis.set(key, self.id, xx=True, ex=LEASE_SECONDS))

    def _release(self, connection_id: int) -> None:
        key = OWNER_KEY.format(connection_id)
        with contextlib.suppress(Exception):
            redis = get_redis()
            if (redis.get(key) or b"").decode() == self.id:
                redis.delete(key)

    # -- calls ------------------------------------------------------------------------------

    def call(self, connection_id: int, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        session = self.sessions.get(connection_id)
        if session is None:
            raise BrokerUnavailable("This gateway connection is not held by this worker any more; try again.")
        return session.call(method, args, kwargs)

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            keys = [REQUEST_KEY.format(cid) for cid in self.sessions]
            if not keys:
                self._stop.wait(0.2)
                continue
            try:
                found = get_redis().blpop(keys, timeout=1)
            except redis_errors.RedisError:  # Redis away: wait and try again
                self._stop.wait(1)
                continue
            if found:
                connection_id = int(found[0].decode().rsplit(":", 1)[1])
                self._executor.submit(self._serve, connection_id, json.loads(found[1]))

    def _serve(self, connection_id: int, request: dict[str, Any]) -> None:
        if request["deadline"] < time.time():
            return  # the caller has given up already: never act on a call nobody waits for
        try:
            args, kwargs = codec.decode(request["args"]), codec.decode(request["kwargs"])
            result = self.call(connection_id, request["method"], args, kwargs)
            answer: dict[str, Any] = {"ok": codec.encode(result)}
        except BrokerError as exc:
            answer = {"error": codec.encode_error(exc)}
        except Exception as exc:
            logger.exception("gateway call %s failed on connection %s", request["method"], connection_id)
            answer = {"error": codec.encode_error(BrokerError(f"The gateway worker failed: {type(exc).__name__}"))}
        finally:
            close_old_connections()
        reply = REPLY_KEY.format(request["id"])
        redis = get_redis()
        redis.rpush(reply, json.dumps(answer))
        redis.expire(reply, REPLY_TTL_SECONDS)

    # -- pushes, heartbeats, health -----------------------------------------------------------

    def _push_loop(self) -> None:
        from brokers.services.orders import order_updates_apply

        while not self._stop.is_set():
            try:
                connection_id, state = self.pushes.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                with self.db_guard():
                    order_updates_apply(connection_id=connection_id, states=[state])
            except Exception:
                logger.exception("could not apply a pushed order update of connection %s", connection_id)
            finally:
                close_old_connections()

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS / 5):
            for session in list(self.sessions.values()):
                if time.monotonic() - session.beaten >= HEARTBEAT_SECONDS:
                    session.beaten = time.monotonic()
                    self._executor.submit(self._beat, session)

    def _beat(self, session: _Session) -> None:
        try:
            session.heartbeat()
        finally:
            close_old_connections()

    def health(self, connection_id: int, *, error: str) -> None:
        from brokers.services.connections import connection_health_mark

        try:
            with self.db_guard():
                connection = BrokerConnection.objects.filter(pk=connection_id).first()
                if connection is not None:
                    connection_health_mark(connection, error=error)
        except Exception:
            logger.exception("could not record the health of connection %s", connection_id)
