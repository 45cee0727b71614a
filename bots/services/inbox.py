"""The inbox: webhook signals wait in the database until a drainer on a worker decides them.

The web process records a signal and wakes its lane's drainer: one Redis `SET NX` per signal,
and a Celery message only when that lane has no drainer running, so intake stays cheap at any
rate. Lanes are by bot (`lane_of`), so one bot's signals are decided in the order they came,
while `LANES` drainers work side by side for different bots.

The database is the queue, so nothing recorded is lost with a worker: a drainer takes every
undecided signal of its lane, oldest first, including any a crashed drainer left behind. A
drainer holds its lane's flag (refreshed per batch, expiring after FLAG_MS if its worker dies)
and, before letting go, looks once more: a signal recorded after its last look finds the flag
gone and wakes a new drainer.
"""

from __future__ import annotations

import logging
import uuid

from django.db import OperationalError

from bots.models import Signal, SignalStatus
from config.redis import get_redis

logger = logging.getLogger(__name__)

LANES = 4
BATCH = 50
FLAG_MS = 30_000


def lane_of(bot_id: uuid.UUID) -> int:
    return bot_id.int % LANES


def _flag(lane: int) -> str:
    return f"tw:bots:inbox:{lane}"


def inbox_wake(*, lane: int) -> None:
    """Make sure a drainer runs for `lane` (raises when Redis or the queue is away)."""
    if get_redis().set(_flag(lane), 1, nx=True, px=FLAG_MS):
        from bots.tasks import signals_drain_task

        signals_drain_task.delay(lane)


def _undecided(lane: int) -> list[uuid.UUID]:
    pending = Signal.objects.filter(lane=lane, decided_at__isnull=True, status=SignalStatus.ACCEPTED)
    return list(pending.order_by("received_at").values_list("pk", flat=True)[:BATCH])


def inbox_drain(*, lane: int) -> int:
    """Decide the lane's undecided signals, oldest first, until none is left; returns how many."""
    from bots.services.execution import signal_fail, signal_process

    redis, flag, done = get_redis(), _flag(lane), 0
    while True:
        batch = _undecided(lane)
        if not batch:
            redis.delete(flag)
            if not _undecided(lane) or not redis.set(flag, 1, nx=True, px=FLAG_MS):
                return done
            continue
        for signal_id in batch:
            try:
                signal_process(signal_id=str(signal_id))
            except OperationalError:
                raise  # the database was busy: the task retries, the lane waits (its flag still held)
            except Exception:  # one bad signal must not block its lane for ever
                logger.exception("deciding signal %s failed", signal_id)
                signal_fail(signal_id=signal_id, message="Deciding this signal failed on our side.")
        done += len(batch)
        redis.pexpire(flag, FLAG_MS)


def inbox_sweep() -> int:
    """Wake the drainer of every lane with undecided signals (a drainer whose worker died lets its flag
    expire after FLAG_MS; this wakes a new one). Returns how many lanes had work."""
    lanes = set(
        Signal.objects.filter(decided_at__isnull=True, status=SignalStatus.ACCEPTED).values_list("lane", flat=True)
    )
    for lane in lanes:
        inbox_wake(lane=lane)
    return len(lanes)
