"""Celery tasks of bots: ids in, one service call each, retries declared here.

A signal's decision is retried when the database was busy (SQLite's lock, a dropped connection):
it is one transaction, so a retry starts clean, and a decided signal is never decided again.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from bots.services import following, inbox
from bots.services.execution import signal_process
from brokers.services.killswitch import kill_switch_flatten

logger = logging.getLogger(__name__)

RETRIES = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(acks_late=True, **RETRIES)
def signal_process_task(signal_id: str) -> None:
    signal_process(signal_id=signal_id)


@shared_task(acks_late=True, **RETRIES)
def signal_fan_out_task(leader_signal_id: str) -> int:
    """Queue one task per chunk of the leader's followers; returns how many chunks."""
    chunks = 0
    for chunk in following.follower_chunks(leader_signal_id=leader_signal_id):
        followers_signal_task.delay(leader_signal_id, chunk)
        chunks += 1
    return chunks


@shared_task(acks_late=True, **RETRIES)
def followers_signal_task(leader_signal_id: str, follower_ids: list[str]) -> int:
    return following.followers_signal(leader_signal_id=leader_signal_id, follower_ids=follower_ids)


@shared_task(acks_late=True, **RETRIES)
def kill_switch_flatten_task(user_id: int) -> None:
    result = kill_switch_flatten(user_id=user_id)
    logger.info(
        "kill switch flatten for user %s: %s cancel(s), %s closing order(s), failures %s",
        user_id,
        result.canceled,
        len(result.closing),
        result.failures,
    )


@shared_task(acks_late=True, **RETRIES)
def signals_drain_task(lane: int) -> int:
    return inbox.inbox_drain(lane=lane)


@shared_task(expires=10)
def signals_sweep() -> int:
    return inbox.inbox_sweep()
