"""`bot:signal`: a signal's record pushed to its bot's owner when it is decided and when its orders settle."""

from __future__ import annotations

from collections.abc import Sequence

from bots.models import Signal
from brokers.models import Order
from realtime import events
from realtime.publish import publish_to_user


def signal_publish(signal: Signal, *, orders: Sequence[Order] | None = None) -> None:
    """Push the signal's record to the bot's owner once the transaction commits.

    `orders`: all of the signal's orders, when the caller has them at hand (else they are read).
    """
    from bots.selectors import signal_records

    record = events.bot_signal(signal, orders) if orders is not None else signal_records([signal])[0]
    publish_to_user(signal.bot.user_id, events.BOT_SIGNAL, record)
