"""Bots: signals in, orders out (CONTRACT.md "Bots").

A bot turns signals (a webhook alert, or an accepted signal of another user's published bot)
into orders on its owner's connections. Every signal is recorded with what became of it; the
orders it placed are linked per target and leg; the risk state the limits read (the bot's own
positions, the day's realised P&L) lives here too, so every worker sees the same figures.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from brokers.models import Order
from config.money import MONEY_FIELD as MONEY


class BotState(models.TextChoices):
    DRAFT = "draft"
    PAPER = "paper"
    LIVE = "live"
    PAUSED = "paused"
    HALTED = "halted"


RUNNING_STATES = (BotState.PAPER, BotState.LIVE)


class BotSource(models.TextChoices):
    WEBHOOK = "webhook"
    FOLLOW = "follow"


class Direction(models.TextChoices):
    LONG = "long"
    SHORT = "short"
    BOTH = "both"


class SizingMode(models.TextChoices):
    FIXED = "fixed"  # value: units per order
    NOTIONAL = "notional"  # value: money per order, at the current quote
    PERCENT_EQUITY = "percent_equity"  # value: % of the target connection's equity
    RISK_PERCENT = "risk_percent"  # value: % of equity lost if the stop is hit
    SIGNAL = "signal"  # value: multiplier of the signal's qty


class OrderKind(models.TextChoices):
    MARKET = "market"
    LIMIT = "limit"


class Bot(models.Model):
    """A user's bot. The webhook token is a secret: only its SHA-256 is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bots")
    name = models.CharField(max_length=100)
    state = models.CharField(max_length=16, choices=BotState.choices, default=BotState.DRAFT)
    halted_reason = models.CharField(max_length=32, blank=True)
    source = models.CharField(max_length=8, choices=BotSource.choices, default=BotSource.WEBHOOK)
    follows = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="followers")
    webhook_token_hash = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    published = models.BooleanField(default=False)
    targets = models.JSONField(default=list, help_text='[{"broker": "paper", "multiplier": "1"}]')
    sizing_mode = models.CharField(max_length=16, choices=SizingMode.choices, default=SizingMode.FIXED)
    sizing_value = models.DecimalField(default=1, **MONEY)
    order_type = models.CharField(max_length=8, choices=OrderKind.choices, default=OrderKind.MARKET)
    limit_offset_pct = models.DecimalField(null=True, blank=True, **MONEY)
    time_in_force = models.CharField(max_length=4, blank=True, help_text="Blank: the broker's first.")
    take_profit_pct = models.DecimalField(null=True, blank=True, **MONEY)
    stop_loss_pct = models.DecimalField(null=True, blank=True, **MONEY)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.LONG)
    symbols_allowed = models.JSONField(null=True, blank=True)
    symbol_map = models.JSONField(default=dict, blank=True)
    max_order_notional = models.DecimalField(null=True, blank=True, **MONEY)
    max_position_notional = models.DecimalField(null=True, blank=True, **MONEY)
    max_open_positions = models.PositiveIntegerField(null=True, blank=True)
    max_daily_loss = models.DecimalField(null=True, blank=True, **MONEY)
    max_trades_per_day = models.PositiveIntegerField(null=True, blank=True)
    max_signal_age_seconds = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"]), models.Index(fields=["follows", "state"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES


class SignalStatus(models.TextChoices):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXECUTED = "executed"
    PARTIALLY_EXECUTED = "partially_executed"
    FAILED = "failed"


class Signal(models.Model):
    """One signal a bot received, as received (raw body, time, address), and what became of it.

    `source_key` makes delivery idempotent per bot: `id:<the signal's id>` for a webhook
    signal that carries an id, `follow:<leader signal>` for a follower's copy; a second
    delivery hits the unique constraint, whichever process it reaches.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="signals")
    received_at = models.DateTimeField(default=timezone.now)
    payload = models.JSONField(null=True, blank=True, help_text="The body parsed as JSON, when it was JSON.")
    raw = models.TextField(blank=True, help_text="The body as received (at most 8 KiB kept).")
    source_address = models.GenericIPAddressField(null=True, blank=True)
    # NULL, not "": signals without an id (and replays, refusals at the door) never collide.
    source_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    leader_signal = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="copies")
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays")
    status = models.CharField(max_length=20, choices=SignalStatus.choices, default=SignalStatus.ACCEPTED)
    reason_code = models.CharField(max_length=32, blank=True)
    reason_message = models.CharField(max_length=500, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    # Webhook signals wait in their bot's lane until a drainer decides them (bots.services.inbox).
    lane = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["bot", "source_key"], name="one_signal_per_source_key")]
        indexes = [
            models.Index(fields=["bot", "-received_at"]),
            models.Index(fields=["bot", "status"]),
            models.Index(
                fields=["lane", "received_at"], condition=models.Q(decided_at__isnull=True), name="signals_undecided"
            ),
        ]

    def __str__(self) -> str:
        return f"signal {self.pk} of {self.bot_id} ({self.status})"


class Leg(models.TextChoices):
    ENTRY = "entry"  # opens or grows the bot's position
    EXIT = "exit"  # reduces or closes it
    TAKE_PROFIT = "take_profit"  # a bracket leg of an entry
    STOP_LOSS = "stop_loss"


class SignalOrder(models.Model):
    """An order a signal placed, per target and leg; `applied` once its fills moved the bot's position."""

    signal = models.ForeignKey(Signal, on_delete=models.CASCADE, related_name="order_links")
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="order_links")
    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="bot_link")
    target = models.CharField(max_length=16, help_text="The target's broker key as configured on the bot.")
    leg = models.CharField(max_length=16, choices=Leg.choices)
    applied = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["signal", "target", "leg"], name="one_order_per_signal_target_leg")
        ]
        indexes = [models.Index(fields=["bot", "created_at"])]

    def __str__(self) -> str:
        return f"{self.leg} of {self.signal_id} at {self.target}"


class BotPosition(models.Model):
    """The bot's own position in a symbol at one broker account (signed: short is negative).

    `mark_price` is where the day's P&L is measured from: the fill price for what was opened
    today, the first price seen today for what was carried over from before.
    """

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="positions")
    broker = models.CharField(max_length=16)
    symbol = models.CharField(max_length=32)
    qty = models.DecimalField(default=0, **MONEY)
    avg_price = models.DecimalField(default=0, **MONEY)
    mark_price = models.DecimalField(default=0, **MONEY)
    mark_day = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bot", "broker", "symbol"], name="one_bot_position")]

    def __str__(self) -> str:
        return f"{self.symbol} {self.qty} @{self.broker}"


class BotDay(models.Model):
    """A bot's realised P&L for one UTC day (fees included), measured from the day's marks."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    realized_pnl = models.DecimalField(default=0, **MONEY)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bot", "day"], name="one_bot_day")]

    def __str__(self) -> str:
        return f"{self.bot_id} {self.day}: {self.realized_pnl}"
