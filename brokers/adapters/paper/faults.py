"""The paper broker's fault switch: make its next calls fail the ways a real broker's do.

What a simulator's fault injection is to a real broker's tests, this is to the paper broker's:
the shared contract suite (and a demo) can make the next call answer 429, go unanswered,
lose its answer after acting, or report a fill twice. Process-local; empty unless someone arms it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from brokers.adapters.base import BrokerUnavailable, RateLimited

R = TypeVar("R")
_LOCK = threading.Lock()


@dataclass
class _Fault:
    kind: str
    match: str
    times: int


_ARMED: list[_Fault] = []


def fault_arm(kind: str, *, match: str = "", times: int = 1) -> None:
    """Arm `kind` (rate_limit, server_error, timeout, drop_response, duplicate_fill) for calls matching `match`."""
    with _LOCK:
        _ARMED.append(_Fault(kind, match, times))


def faults_clear() -> None:
    with _LOCK:
        _ARMED.clear()


def _take(method: str, kinds: tuple[str, ...]) -> str | None:
    with _LOCK:
        for fault in _ARMED:
            if fault.kind in kinds and (not fault.match or re.search(fault.match, method)):
                fault.times -= 1
                if fault.times <= 0:
                    _ARMED.remove(fault)
                return fault.kind
    return None


def faulty(method: str, call: Callable[[], R]) -> R:
    """Run one adapter call as an armed fault says."""
    kind = _take(method, ("rate_limit", "server_error", "timeout", "drop_response"))
    if kind == "rate_limit":
        raise RateLimited("The paper broker is rate limiting this account.", retry_after=1.0)
    if kind in {"server_error", "timeout"}:
        raise BrokerUnavailable("The paper broker did not answer.")
    result = call()
    if kind == "drop_response":
        raise BrokerUnavailable("The paper broker's answer was lost.")
    return result


def duplicate_reports() -> bool:
    """Whether the next batch of order reports should be sent twice."""
    return _take("reports", ("duplicate_fill",)) is not None
