from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from brokers.adapters.base import OrderStatus, OrderType, Side, TimeInForce
from brokers.adapters.registry import CHOICES
from config.money import MONEY_FIELD as MONEY


class ConnectionStatus(models.TextChoices):
    CONNECTED = "connected"
    PENDING_AUTHORIZATION = "pending_authorization"
    ERROR = "error"
    DISABLED = "disabled"


class BrokerConnection(models.Model):
    """A user's account at one broker. Credentials live in `Credential`, sealed by the vault."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connections")
    broker = models.CharField(max_length=16, choices=CHOICES)
    label = models.CharField(max_length=100, blank=True)
    paper = models.BooleanField(default=False)
    status = models.CharField(max_length=32, choices=ConnectionStatus.choices, default=ConnectionStatus.CONNECTED)
    last_error = models.CharField(max_length=500, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    credential_hint = models.CharField(max_length=8, blank=True)
    account_id = models.CharField(max_length=100, blank=True)
    currency = models.CharField(max_length=8, default="USD")
    consecutive_failures = models.PositiveIntegerField(default=0)
    # Connection health: the last call that worked, since when it has been failing (a gateway
    # unreachable, a broker down), and when the login runs out (an OAuth refresh token).
    last_success_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    auth_expires_at = models.DateTimeField(null=True, blank=True)
    # Bumped whenever the sealed credentials change: pooled adapters holding older ones are rebuilt.
    credentials_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "broker"], name="one_connection_per_broker")]
        ordering = ["broker"]

    def __str__(self) -> str:
        return f"{self.broker} ({self.user_id})"


class Credential(models.Model):
    """One sealed secret: AES-256-GCM ciphertext, its data key wrapped by the key-encryption key."""

    connection = models.ForeignKey(BrokerConnection, on_delete=models.CASCADE, related_name="credentials")
    field = models.CharField(max_length=64)
    ciphertext = models.BinaryField()
    wrapped_key = models.BinaryField()
    kek_id = models.CharField(max_length=200, help_text="Which key-encryption key wrapped the data key.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "field"], name="one_secret_per_field")]

    def __str__(self) -> str:
        return f"{self.field} of connection {self.connection_id}"


class OrderLeg(models.TextChoices):
    ENTRY = "", "entry"
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"


class Order(models.Model):
    """One order of ours. A bracket's exit legs are orders of their own with `parent` and `leg` set:
    reported by the broker for a native bracket, placed by us after the entry fills for an emulated one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="orders")
    # Orders outlive a disconnected broker as history.
    connection = models.ForeignKey(BrokerConnection, null=True, on_delete=models.SET_NULL, related_name="orders")
    broker = models.CharField(max_length=16, choices=CHOICES)
    client_order_id = models.CharField(max_length=64)
    request_fingerprint = models.CharField(max_length=64, help_text="Hash of the order's fields, for retries.")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4, choices=[(s.value, s.value) for s in Side])
    type = models.CharField(max_length=16, choices=[(t.value, t.value) for t in OrderType])
    qty = models.DecimalField(**MONEY)
    limit_price = models.DecimalField(null=True, blank=True, **MONEY)
    stop_price = models.DecimalField(null=True, blank=True, **MONEY)
    time_in_force = models.CharField(max_length=4, choices=[(t.value, t.value) for t in TimeInForce], default="day")
    take_profit_limit_price = models.DecimalField(null=True, blank=True, **MONEY)
    stop_loss_stop_price = models.DecimalField(null=True, blank=True, **MONEY)
    stop_loss_limit_price = models.DecimalField(null=True, blank=True, **MONEY)
    status = models.CharField(
        max_length=20, choices=[(s.value, s.value) for s in OrderStatus], default=OrderStatus.PENDING
    )
    broker_order_id = models.CharField(max_length=100, blank=True)
    filled_qty = models.DecimalField(default=0, **MONEY)
    avg_fill_price = models.DecimalField(null=True, blank=True, **MONEY)
    fee = models.DecimalField(default=0, **MONEY)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    submit_attempts = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="legs")
    leg = models.CharField(max_length=16, choices=OrderLeg.choices, blank=True, default=OrderLeg.ENTRY)
    # Whose bracket this is: the broker's (native) or ours, placed after the entry fills (emulated).
    bracket = models.CharField(max_length=8, blank=True, help_text="native, emulated, or blank (no bracket)")
    # An emulated stop-loss we hold and watch ourselves: sent once the market reaches its stop.
    held = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "client_order_id"], name="one_order_per_client_id"),
        ]
        indexes = [
            models.Index(fields=["user", "broker", "-created_at"]),
            models.Index(fields=["status"]),
            models.Index(fields=["connection", "broker_order_id"]),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.side} {self.qty} {self.symbol} @{self.broker} ({self.status})"


class Fill(models.Model):
    """One execution of an order, keyed by the broker's execution id: a repeated report is the same row.

    An order's filled quantity, average price and fee are derived from its fills.
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="fills")
    connection = models.ForeignKey(BrokerConnection, null=True, on_delete=models.SET_NULL, related_name="fills")
    execution_id = models.CharField(max_length=128)
    qty = models.DecimalField(**MONEY)
    price = models.DecimalField(**MONEY)
    fee = models.DecimalField(default=0, **MONEY)
    fee_currency = models.CharField(max_length=8, blank=True)
    executed_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "execution_id"], name="one_fill_per_execution_id"),
        ]
        ordering = ["executed_at"]

    def __str__(self) -> str:
        return f"{self.qty} @ {self.price} ({self.execution_id})"


class Instrument(models.Model):
    """What a broker trades under a canonical symbol, cached from its metadata endpoints (refreshed daily)."""

    broker = models.CharField(max_length=16, choices=CHOICES)
    symbol = models.CharField(max_length=32)
    asset_class = models.CharField(max_length=16)
    broker_symbol = models.CharField(max_length=64)
    tick_size = models.DecimalField(**MONEY)
    lot_size = models.DecimalField(**MONEY)
    min_qty = models.DecimalField(**MONEY)
    fractional = models.BooleanField(default=False)
    currency = models.CharField(max_length=8, default="USD")
    refreshed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["broker", "symbol"], name="one_instrument_per_broker_symbol")]

    def __str__(self) -> str:
        return f"{self.symbol}@{self.broker}"


class BalanceSnapshot(models.Model):
    connection = models.ForeignKey(BrokerConnection, on_delete=models.CASCADE, related_name="balances")
    currency = models.CharField(max_length=8)
    cash = models.DecimalField(**MONEY)
    equity = models.DecimalField(**MONEY)
    buying_power = models.DecimalField(**MONEY)
    as_of = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["connection", "-as_of"])]
        ordering = ["-as_of"]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.equity} {self.currency} @ {self.as_of:%Y-%m-%d %H:%M:%S}"


class PositionSnapshot(models.Model):
    """The latest positions of a connection; replaced as a set on every refresh."""

    connection = models.ForeignKey(BrokerConnection, on_delete=models.CASCADE, related_name="positions")
    symbol = models.CharField(max_length=32)
    qty = models.DecimalField(**MONEY)
    avg_price = models.DecimalField(**MONEY)
    market_price = models.DecimalField(**MONEY)
    market_value = models.DecimalField(**MONEY)
    unrealized_pnl = models.DecimalField(**MONEY)
    as_of = models.DateTimeField()

    class Meta:
        ordering = ["symbol"]

    def __str__(self) -> str:
        return f"{self.symbol} {self.qty}"


class KillSwitch(models.Model):
    """A user's kill switch: while engaged, bots are halted and nothing that opens or grows a position is placed."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="kill_switch")
    engaged = models.BooleanField(default=False)
    since = models.DateTimeField(null=True, blank=True)
    flatten = models.BooleanField(
        default=False, help_text="Engaged with flatten: open orders cancelled, positions closed."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"kill switch of {self.user_id}: {'engaged' if self.engaged else 'released'}"


# --- the paper broker's own books (it is a broker: these are its records, not ours) ---


class PaperAccount(models.Model):
    account_id = models.CharField(max_length=64, unique=True)
    user_id = models.BigIntegerField(db_index=True)
    currency = models.CharField(max_length=8, default="USD")
    cash = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.account_id


class PaperPosition(models.Model):
    account = models.ForeignKey(PaperAccount, on_delete=models.CASCADE, related_name="positions")
    symbol = models.CharField(max_length=32)
    qty = models.DecimalField(**MONEY)
    avg_price = models.DecimalField(**MONEY)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "symbol"], name="one_paper_position_per_symbol")]

    def __str__(self) -> str:
        return f"{self.symbol} {self.qty}"


class PaperOrder(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(PaperAccount, on_delete=models.CASCADE, related_name="orders")
    client_order_id = models.CharField(max_length=64)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="legs")
    oco_group = models.CharField(max_length=64, blank=True, help_text="Bracket legs: one filling cancels the other.")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=4)
    type = models.CharField(max_length=16)
    qty = models.DecimalField(**MONEY)
    limit_price = models.DecimalField(null=True, blank=True, **MONEY)
    stop_price = models.DecimalField(null=True, blank=True, **MONEY)
    time_in_force = models.CharField(max_length=4, default="day")
    status = models.CharField(max_length=20)
    filled_qty = models.DecimalField(default=0, **MONEY)
    avg_fill_price = models.DecimalField(null=True, blank=True, **MONEY)
    fee = models.DecimalField(default=0, **MONEY)
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "client_order_id"], name="one_paper_order_per_client_id"),
        ]
        indexes = [models.Index(fields=["status", "symbol"])]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.side} {self.qty} {self.symbol} ({self.status})"
