"""The quote poller: every cycle, each watched or subscribed symbol is fetched once and published if changed."""

from __future__ import annotations

import contextlib
import logging

from celery import shared_task
from django.conf import settings
from redis.exceptions import LockError

from config.redis import get_redis
from watchlist.services import quotes_refresh

logger = logging.getLogger(__name__)

POLL_LOCK_KEY = "tw:quotes:poll-lock"
# Longer than a cycle ever takes, short enough that a worker killed mid-cycle stalls quotes only briefly.
POLL_LOCK_SECONDS = 10


@shared_task(expires=max(1.0, settings.QUOTE_POLL_SECONDS))
def quotes_poll() -> int:
    """One quote cycle; skipped while another is still running. Returns how many quotes were published."""
    lock = get_redis().lock(POLL_LOCK_KEY, timeout=POLL_LOCK_SECONDS, blocking_timeout=0)
    if not lock.acquire():
        return 0
    try:
        # Waiting on the rate limiter for longer than half a cycle would only delay the next one.
        batch = quotes_refresh(wait=settings.QUOTE_POLL_SECONDS / 2)
        for source, (symbols, exc) in batch.failed.items():
            logger.warning(
                "quote poll: market-data source %s failed (%s): %s; %d quotes marked stale",
                source,
                exc.code,
                exc.message,
                len(symbols),
            )
        return batch.published
    finally:
        with contextlib.suppress(LockError):  # it expired mid-cycle; nothing left to release
            lock.release()
