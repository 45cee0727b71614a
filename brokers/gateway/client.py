"""Reaching a gateway connection from any process: its calls go to the gateway worker that owns the socket.

A connection with no owner yet is asked for (`tw:gw:wanted`) and a host leases it within a
couple of seconds; with no gateway worker running at all, a call fails at once with a clear
`BrokerUnavailable`. A call that the owner does not answer within the broker's timeout is
`BrokerUnavailable` too: for an order that means "outcome unknown", resolved by looking it up by
its client id before anything is sent again. Calls never carry credentials: the owner opens the
vault itself.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from typing import Any

from brokers.adapters.base import BrokerUnavailable
from brokers.adapters.registry import get_spec
from brokers.gateway import codec
from brokers.gateway.host import LOCAL_HOSTS, OWNER_KEY, REPLY_KEY, REQUEST_KEY, WANTED_KEY
from brokers.models import BrokerConnection
from config.redis import get_redis

CLAIM_WAIT_SECONDS = 4.0
# Beyond the broker's own timeout: the owner's queue and the answer's way back.
ANSWER_MARGIN_SECONDS = 2.0


class GatewayClient:
    """The adapter interface of a gateway connection, served by its owner."""

    def __init__(self, connection: BrokerConnection) -> None:
        self.connection_id = connection.pk
        self.name = get_spec(connection.broker).name
        self.timeout = get_spec(connection.broker).capabilities.timeout_seconds + ANSWER_MARGIN_SECONDS

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)
        return functools.partial(self._call, method)

    def close(self) -> None:
        """Nothing to release: the socket is the owner's."""

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        owner = self._owner()
        local = LOCAL_HOSTS.get(owner)
        if local is not None:
            return local.call(self.connection_id, method, args, kwargs)
        request_id = uuid.uuid4().hex
        deadline = time.time() + self.timeout
        request = {"id": request_id, "method": method, "args": codec.encode(args), "kwargs": codec.encode(kwargs)}
        redis = get_redis()
        redis.rpush(REQUEST_KEY.format(self.connection_id), json.dumps({**request, "deadline": deadline}))
        return self._answer(REPLY_KEY.format(request_id), deadline)

    def _owner(self) -> str:
        redis = get_redis()
        key = OWNER_KEY.format(self.connection_id)
        owner = redis.get(key)
        if owner is None:
            redis.sadd(WANTED_KEY, self.connection_id)
            give_up = time.monotonic() + CLAIM_WAIT_SECONDS
            while owner is None and time.monotonic() < give_up:
                time.sleep(0.1)
                owner = redis.get(key)
        if owner is None:
            raise BrokerUnavailable(
                f"No gateway worker is running to reach your {self.name} gateway; start it with "
                "`python manage.py gateway` (make run starts one)."
            )
        return str(owner.decode())

    def _answer(self, reply_key: str, deadline: float) -> Any:
        redis = get_redis()
        while time.time() < deadline:
            # Short blocking reads: the shared client's socket timeout is a couple of seconds.
            found = redis.blpop([reply_key], timeout=1)
            if found:
                answer = json.loads(found[1])
                if "error" in answer:
                    raise codec.decode_error(answer["error"])
                return codec.decode(answer["ok"])
        raise BrokerUnavailable(f"Your {self.name} gateway did not answer in time; the outcome is not known yet.")
