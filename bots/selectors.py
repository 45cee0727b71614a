"""Reads for the bots API: each user sees only their own bots; another user's bot is a 404."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.db.models import Count, QuerySet

from accounts.models import User
from bots.models import RUNNING_STATES, Bot, BotDay, BotPosition, Leg, Signal, SignalOrder, SignalStatus
from bots.services.risk import day_start
from brokers.models import Order
from config.domain import NotFound
from realtime import events

SIGNAL_LIST_MAX = 500


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def bot_get(*, user: User, bot_id: Any) -> Bot:
    pk = _uuid(bot_id)
    bot = Bot.objects.filter(user=user, pk=pk).first() if pk else None
    if bot is None:
        raise NotFound("No such bot.")
    return bot


def bot_list(*, user: User) -> QuerySet[Bot]:
    return Bot.objects.filter(user=user).order_by("-created_at")


def bot_active_count(*, user_id: int) -> int:
    """How many of the user's bots run (paper or live): the portfolio's `active_bots`."""
    return Bot.objects.filter(user_id=user_id, state__in=RUNNING_STATES).count()


def bot_stats(*, bots: Sequence[Bot]) -> dict[uuid.UUID, dict[str, Any]]:
    """Today's {signals_today, orders_today, pnl_today} per bot, in a fixed number of queries.

    `pnl_today` is the realised P&L of the day plus the open positions marked at the last
    published quote (positions with no quote count at their mark).
    """
    ids = [bot.pk for bot in bots]
    since = day_start()
    signals = _counts(Signal.objects.filter(bot_id__in=ids, received_at__gte=since))
    orders = _counts(SignalOrder.objects.filter(bot_id__in=ids, created_at__gte=since, leg__in=[Leg.ENTRY, Leg.EXIT]))
    pnl: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for bot_id, realized in BotDay.objects.filter(bot_id__in=ids, day=since.date()).values_list(
        "bot_id", "realized_pnl"
    ):
        pnl[bot_id] += realized
    for bot_id, value in _unrealized(ids, since.date()):
        pnl[bot_id] += value
    return {
        pk: {"signals_today": signals.get(pk, 0), "orders_today": orders.get(pk, 0), "pnl_today": pnl[pk]} for pk in ids
    }


def _counts(queryset: QuerySet[Any]) -> dict[uuid.UUID, int]:
    return dict(queryset.values("bot_id").annotate(n=Count("pk")).values_list("bot_id", "n"))


def _unrealized(ids: list[uuid.UUID], today: Any) -> Iterable[tuple[uuid.UUID, Decimal]]:
    positions = list(BotPosition.objects.filter(bot_id__in=ids, mark_day=today).exclude(qty=0))
    if not positions:
        return []
    from realtime.quotes import quotes_last

    try:
        last = quotes_last({p.symbol for p in positions})
    except Exception:  # noqa: BLE001 - Redis away: the figure is for display, realised P&L still shows
        return []
    return [
        (p.bot_id, p.qty * (Decimal(last[p.symbol]["price"]) - p.mark_price)) for p in positions if p.symbol in last
    ]


def signal_list(*, bot: Bot, status: str | None = None, limit: int = 100) -> list[Signal]:
    signals = Signal.objects.filter(bot=bot).order_by("-received_at")
    if status:
        signals = signals.filter(status=status)
    return list(signals[: min(max(limit, 1), SIGNAL_LIST_MAX)])


def signal_get(*, bot: Bot, signal_id: Any) -> Signal:
    pk = _uuid(signal_id)
    signal = Signal.objects.filter(bot=bot, pk=pk).first() if pk else None
    if signal is None:
        raise NotFound("No such signal.")
    return signal


def signal_records(signals: Sequence[Signal]) -> list[dict[str, Any]]:
    """Signals in the contract's shape (what `bot:signal` carries too), their orders in two queries."""
    links = SignalOrder.objects.filter(signal__in=signals).select_related("order").order_by("created_at")
    by_signal: dict[uuid.UUID, list[Order]] = defaultdict(list)
    linked: dict[uuid.UUID, uuid.UUID] = {}
    for link in links:
        by_signal[link.signal_id].append(link.order)
        linked[link.order_id] = link.signal_id
    parents = [pk for pk, _ in linked.items()]
    for leg in Order.objects.filter(parent_id__in=parents).exclude(pk__in=list(linked)).order_by("created_at"):
        by_signal[linked[leg.parent_id]].append(leg)
    return [events.bot_signal(signal, by_signal.get(signal.pk, [])) for signal in signals]


def signal_status_valid(status: str) -> bool:
    return status in SignalStatus.values
