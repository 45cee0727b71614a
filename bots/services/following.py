"""Following: a published bot's accepted signals reach every follower bot, batched on the workers.

The leader's signal is split into chunks of followers, one task per chunk. A chunk records the
followers' copies with one bulk insert (idempotent: a copy is unique per follower and leader
signal, so a retried chunk inserts nothing twice), fetches each symbol's quote once for all of
them, then decides each follower with its own targets, sizing and limits. A follower's copy
carries the signal's fields only: never the leader's orders, positions, connections, or any
extra key the leader put in its alert.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.utils import timezone

from bots.models import Bot, BotSource, Signal, SignalStatus
from bots.services.execution import signal_process
from bots.services.market import QuoteBook

FOLLOWERS_PER_TASK = 100
SIGNAL_FIELDS = ("id", "action", "symbol", "qty", "price", "stop_loss", "take_profit", "time")


def follower_chunks(*, leader_signal_id: str) -> Iterator[list[str]]:
    """The ids of the leader's followers, in chunks of FOLLOWERS_PER_TASK (none unless the leader's
    signal was accepted and the leader is published)."""
    leader = Signal.objects.select_related("bot").filter(pk=leader_signal_id).first()
    if leader is None or leader.status == SignalStatus.REJECTED or not leader.bot.published:
        return
    ids = [
        str(pk)
        for pk in Bot.objects.filter(follows_id=leader.bot_id, source=BotSource.FOLLOW)
        .order_by("pk")
        .values_list("pk", flat=True)
    ]
    for start in range(0, len(ids), FOLLOWERS_PER_TASK):
        yield ids[start : start + FOLLOWERS_PER_TASK]


def followers_signal(*, leader_signal_id: str, follower_ids: list[str]) -> int:
    """Record the leader's signal for each follower of the chunk and decide each; returns how many were new."""
    leader = Signal.objects.filter(pk=leader_signal_id).first()
    if leader is None:
        return 0
    followers = Bot.objects.filter(pk__in=follower_ids, follows_id=leader.bot_id, source=BotSource.FOLLOW)
    payload = _copy_payload(leader.payload)
    key, now = f"follow:{leader.pk}", timezone.now()
    copies = [
        Signal(
            bot_id=pk, received_at=now, payload=payload, raw=json.dumps(payload), source_key=key, leader_signal=leader
        )
        for pk in followers.values_list("pk", flat=True)
    ]
    Signal.objects.bulk_create(copies, ignore_conflicts=True)
    pending = list(
        Signal.objects.filter(bot_id__in=follower_ids, source_key=key, decided_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    quotes = QuoteBook()
    for signal_id in pending:
        signal_process(signal_id=str(signal_id), quotes=quotes)
    return len(pending)


def _copy_payload(payload: Any) -> dict[str, Any]:
    source = payload if isinstance(payload, dict) else {}
    return {name: source[name] for name in SIGNAL_FIELDS if name in source}
