"""A bot's risk state, in the database: its own positions, its open entries, today's trades and P&L.

The day is the UTC day. Its P&L is realised + unrealised since the day began: every position is
measured from its mark (the fill price for what was opened today; for what was carried over,
the first price the bot saw today), realised P&L of the day is booked against those marks and
fees count as losses. Positions move when an order settles (`position_apply`); until then an
open entry counts against the limits at its full remaining quantity, so a burst of signals
cannot slip past a limit while earlier orders are still working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from django.db.models import F, Sum
from django.utils import timezone

from bots.models import Bot, BotDay, BotPosition, Leg, SignalOrder, SignalStatus
from bots.reasons import Reason, Refusal
from brokers.adapters.base import OPEN_STATUSES, Side
from brokers.models import Order
from config.money import QUANTUM

ZERO = Decimal(0)


def day_start(now: datetime | None = None) -> datetime:
    """Midnight UTC of `now`'s day (settings.TIME_ZONE is UTC)."""
    moment = now or timezone.now()
    return datetime.combine(moment.date(), time.min, tzinfo=moment.tzinfo)


@dataclass
class RiskState:
    today: date
    positions: dict[tuple[str, str], BotPosition] = field(default_factory=dict)
    # Open entry orders: what is left to fill, by (broker, symbol, side).
    pending: dict[tuple[str, str, str], Decimal] = field(default_factory=dict)
    trades_today: int = 0
    realized_today: Decimal = ZERO

    def held(self, broker: str, symbol: str) -> Decimal:
        position = self.positions.get((broker, symbol))
        return position.qty if position is not None else ZERO

    def pending_qty(self, broker: str, symbol: str, side: str) -> Decimal:
        return self.pending.get((broker, symbol, side), ZERO)

    def open_symbols(self) -> set[str]:
        held = {symbol for (_, symbol), p in self.positions.items() if p.qty != 0}
        return held | {symbol for (_, symbol, _), left in self.pending.items() if left > 0}


def risk_state_read(*, bot: Bot) -> RiskState:
    """The bot's risk state now (read inside the transaction that holds the bot's row lock).

    Only what the bot's limits need is read: its positions always (direction and closes need
    them), its open entries, trades and day only when a limit looks at them.
    """
    now = timezone.now()
    state = RiskState(today=now.date())
    for position in BotPosition.objects.filter(bot=bot).exclude(qty=0):
        state.positions[(position.broker, position.symbol)] = position
    if bot.max_position_notional is not None or bot.max_open_positions is not None:
        state.pending = _open_entries(bot)
    if bot.max_trades_per_day is not None:
        state.trades_today = (
            bot.signals.filter(received_at__gte=day_start(now), decided_at__isnull=False)
            .exclude(status=SignalStatus.REJECTED)
            .count()
        )
    if bot.max_daily_loss is not None:
        day = BotDay.objects.filter(bot=bot, day=state.today).first()
        state.realized_today = day.realized_pnl if day is not None else ZERO
    return state


def _open_entries(bot: Bot) -> dict[tuple[str, str, str], Decimal]:
    rows = (
        Order.objects.filter(bot_link__bot=bot, bot_link__leg=Leg.ENTRY, status__in=OPEN_STATUSES)
        .values("broker", "symbol", "side")
        .annotate(left=Sum(F("qty") - F("filled_qty")))
    )
    return {(row["broker"], row["symbol"], row["side"]): row["left"] for row in rows}


def day_pnl(*, state: RiskState, prices: dict[str, Decimal]) -> Decimal:
    """Realised + unrealised P&L since the day began; carried positions not yet marked today are marked now."""
    unrealized = ZERO
    for position in state.positions.values():
        price = prices[position.symbol]
        if position.mark_day != state.today:
            position.mark_price, position.mark_day = price, state.today
            position.save(update_fields=["mark_price", "mark_day", "updated_at"])
        unrealized += position.qty * (price - position.mark_price)
    return state.realized_today + unrealized


def daily_loss_refusal(*, bot: Bot, pnl: Decimal) -> Refusal | None:
    if bot.max_daily_loss is not None and pnl <= -bot.max_daily_loss:
        figure = pnl.quantize(Decimal("0.01"))
        message = f"Today's P&L is {figure}, at or beyond the daily loss limit of -{bot.max_daily_loss}."
        return Refusal(Reason.MAX_DAILY_LOSS, message, halts=True)
    return None


def position_apply(*, link: SignalOrder, order: Order) -> None:
    """Move the bot's position by what `order` filled (once per order: the caller marks the link applied)."""
    if order.filled_qty <= 0 or order.avg_fill_price is None:
        return
    today = timezone.now().date()
    position, _ = BotPosition.objects.select_for_update().get_or_create(
        bot_id=link.bot_id, broker=order.broker, symbol=order.symbol
    )
    price, qty = order.avg_fill_price, order.filled_qty
    if position.mark_day != today:
        position.mark_price, position.mark_day = price if position.qty else ZERO, today
    realized = _move(position, signed=qty if order.side == Side.BUY else -qty, price=price) - order.fee
    position.save()
    if realized:
        day, _ = BotDay.objects.select_for_update().get_or_create(bot_id=link.bot_id, day=today)
        day.realized_pnl += realized
        day.save(update_fields=["realized_pnl"])


def _move(position: BotPosition, *, signed: Decimal, price: Decimal) -> Decimal:
    """Apply a fill of `signed` units at `price`; returns the P&L it realised against the marks."""
    held = position.qty
    if held == 0 or (held > 0) == (signed > 0):  # opens or grows
        total = abs(held) + abs(signed)
        position.avg_price = _q((abs(held) * position.avg_price + abs(signed) * price) / total)
        position.mark_price = _q((abs(held) * position.mark_price + abs(signed) * price) / total)
        position.qty = held + signed
        return ZERO
    closing = min(abs(signed), abs(held))
    realized = closing * (price - position.mark_price) * (1 if held > 0 else -1)
    position.qty = held + signed
    if position.qty == 0:
        position.avg_price = position.mark_price = ZERO
    elif (position.qty > 0) != (held > 0):  # flipped: the rest opened at this price
        position.avg_price = position.mark_price = price
    return _q(realized)


def _q(value: Decimal) -> Decimal:
    return value.quantize(QUANTUM)
