"""Replaying a recorded signal on the paper broker: a new signal (`replay_of`) decided like any other."""

from __future__ import annotations

import logging

from django.db import transaction

from bots.models import Signal

logger = logging.getLogger(__name__)


def signal_replay(*, signal: Signal) -> Signal:
    """Record `signal` again for its bot, as a replay, and queue its decision.

    A replay runs every target on the paper broker, whatever the bot's mode, and is not refused
    for the bot's state or the signal's age (bots.services.decision); it never reaches followers.
    """
    replay = Signal.objects.create(bot_id=signal.bot_id, payload=signal.payload, raw=signal.raw, replay_of=signal)
    transaction.on_commit(lambda: _enqueue(str(replay.pk)))
    return replay


def _enqueue(signal_id: str) -> None:
    from bots.tasks import signal_process_task

    try:
        signal_process_task.delay(signal_id)
    except Exception:
        logger.exception("could not queue the replay %s", signal_id)
