from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from brokers.adapters.base import OrderStatus, OrderType, Side, TimeInForce
from brokers.adapters.registry import CHOICES

MONEY = {"max_digits": 28, "decimal_places": 10}


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


class Order(models.Model):
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
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "client_order_id"], name="one_order_per_client_id"),
        ]
        indexes = [models.Index(fields=["user", "broker", "-created_at"]), models.Index(fields=["status"])]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.side} {self.qty} {self.symbol} @{self.broker} ({self.status})"


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
