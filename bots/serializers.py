"""Input and output shapes of the bots API (CONTRACT.md "Bots")."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bots.models import BotSource, BotState, Direction, OrderKind, SignalStatus, SizingMode
from brokers.adapters.base import TimeInForce
from brokers.adapters.registry import resolve_key
from brokers.serializers import MoneyField, PositiveMoney
from brokers.symbols import symbol_normalize

USER_STATES = [BotState.DRAFT, BotState.PAPER, BotState.LIVE, BotState.PAUSED]
MAX_TARGETS = 7
MAX_SYMBOLS = 500

_SOURCE_SCHEMA = {
    "oneOf": [
        {"type": "string", "enum": ["webhook"]},
        {
            "type": "object",
            "properties": {"follow": {"type": "string", "format": "uuid", "nullable": True}},
            "required": ["follow"],
        },
    ]
}


@extend_schema_field(_SOURCE_SCHEMA)
class SourceField(serializers.Field):
    """`"webhook"` or `{"follow": BOT_ID}`; in: (source, leader id or None)."""

    default_error_messages = {"invalid": 'Expected "webhook" or {{"follow": BOT_ID}}.'}

    def to_internal_value(self, data: Any) -> tuple[str, uuid.UUID | None]:
        if data == BotSource.WEBHOOK:
            return BotSource.WEBHOOK, None
        if isinstance(data, dict) and set(data) == {"follow"}:
            try:
                return BotSource.FOLLOW, uuid.UUID(str(data["follow"]))
            except ValueError:
                pass
        self.fail("invalid")
        raise AssertionError  # fail() raises

    def to_representation(self, value: Any) -> Any:
        return value


class TargetIn(serializers.Serializer):
    broker = serializers.CharField(max_length=32)
    multiplier = PositiveMoney(required=False, default="1")

    def validate_broker(self, value: str) -> str:
        key = resolve_key(value)
        if key is None:
            raise serializers.ValidationError(f"Unknown broker {value!r}.")
        return key


class SizingIn(serializers.Serializer):
    mode = serializers.ChoiceField(choices=SizingMode.choices)
    value = PositiveMoney(max_value=10**15)


class OrderTemplateIn(serializers.Serializer):
    type = serializers.ChoiceField(choices=OrderKind.choices, default=OrderKind.MARKET)
    limit_offset_pct = MoneyField(required=False, allow_null=True, default=None, min_value=-50, max_value=50)
    time_in_force = serializers.ChoiceField(
        choices=[t.value for t in TimeInForce], required=False, allow_null=True, default=None
    )
    take_profit_pct = PositiveMoney(required=False, allow_null=True, default=None, max_value=1000)
    stop_loss_pct = PositiveMoney(required=False, allow_null=True, default=None, max_value=99)


class SymbolsIn(serializers.Serializer):
    allowed = serializers.ListField(
        child=serializers.CharField(max_length=32),
        allow_null=True,
        required=False,
        default=None,
        max_length=MAX_SYMBOLS,
    )
    map = serializers.DictField(child=serializers.CharField(max_length=32), required=False, default=dict)

    def validate_map(self, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_SYMBOLS or any(not key.strip() or len(key) > 32 for key in value):
            raise serializers.ValidationError(f"At most {MAX_SYMBOLS} entries of 1 to 32 characters.")
        return value


class LimitsIn(serializers.Serializer):
    max_order_notional = PositiveMoney(required=False, allow_null=True, default=None, max_value=10**15)
    max_position_notional = PositiveMoney(required=False, allow_null=True, default=None, max_value=10**15)
    max_open_positions = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=10_000
    )
    max_daily_loss = PositiveMoney(required=False, allow_null=True, default=None, max_value=10**15)
    max_trades_per_day = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=1_000_000
    )
    max_signal_age_seconds = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=86_400 * 7
    )


class BotIn(serializers.Serializer):
    """A bot's writable fields; `to_model()` gives them as the model's columns."""

    name = serializers.CharField(max_length=100)
    state = serializers.ChoiceField(choices=USER_STATES, required=False)
    source = SourceField(required=False)
    published = serializers.BooleanField(required=False)
    targets = TargetIn(many=True, required=False, max_length=MAX_TARGETS)
    sizing = SizingIn(required=False)
    order = OrderTemplateIn(required=False)
    direction = serializers.ChoiceField(choices=Direction.choices, required=False)
    symbols = SymbolsIn(required=False)
    limits = LimitsIn(required=False)

    def validate_targets(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        keys = [target["broker"] for target in value]
        if len(set(keys)) != len(keys):
            raise serializers.ValidationError("Each broker may be a target once.")
        return value

    def to_model(self) -> dict[str, Any]:
        data = self.validated_data
        values: dict[str, Any] = {k: data[k] for k in ("name", "state", "published", "direction") if k in data}
        if "source" in data:
            values["source"], values["follows_id"] = data["source"]
        if "targets" in data:
            values["targets"] = [{"broker": t["broker"], "multiplier": str(t["multiplier"])} for t in data["targets"]]
        if "sizing" in data:
            values.update(_prefixed(data["sizing"], "sizing_"))
        if "order" in data:
            values.update(_order_values(data["order"]))
        if "symbols" in data:
            values.update(_symbol_values(data["symbols"]))
        values.update(data.get("limits", {}))
        return values


def _prefixed(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {prefix + name: value for name, value in values.items()}


def _order_values(order: dict[str, Any]) -> dict[str, Any]:
    values = {("order_type" if name == "type" else name): value for name, value in order.items()}
    if "time_in_force" in values:
        values["time_in_force"] = values["time_in_force"] or ""
    return values


def _symbol_values(symbols: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "allowed" in symbols:
        allowed = symbols["allowed"]
        values["symbols_allowed"] = None if allowed is None else sorted({symbol_normalize(s) for s in allowed} - {""})
    if "map" in symbols:
        values["symbol_map"] = {symbol_normalize(k): symbol_normalize(v) for k, v in symbols["map"].items()}
    return values


# --- out -----------------------------------------------------------------------------------


class TargetOut(serializers.Serializer):
    broker = serializers.CharField()
    multiplier = MoneyField()


class SizingOut(serializers.Serializer):
    mode = serializers.CharField()
    value = MoneyField()


class OrderTemplateOut(serializers.Serializer):
    type = serializers.CharField()
    limit_offset_pct = MoneyField(allow_null=True)
    time_in_force = serializers.CharField(allow_null=True)
    take_profit_pct = MoneyField(allow_null=True)
    stop_loss_pct = MoneyField(allow_null=True)


class SymbolsOut(serializers.Serializer):
    allowed = serializers.ListField(child=serializers.CharField(), allow_null=True)
    map = serializers.DictField(child=serializers.CharField())


class LimitsOut(serializers.Serializer):
    max_order_notional = MoneyField(allow_null=True)
    max_position_notional = MoneyField(allow_null=True)
    max_open_positions = serializers.IntegerField(allow_null=True)
    max_daily_loss = MoneyField(allow_null=True)
    max_trades_per_day = serializers.IntegerField(allow_null=True)
    max_signal_age_seconds = serializers.IntegerField(allow_null=True)


class StatsOut(serializers.Serializer):
    signals_today = serializers.IntegerField()
    orders_today = serializers.IntegerField()
    pnl_today = MoneyField()


class BotOut(serializers.Serializer):
    """Serializes the dict `bot_record` builds (bots.views)."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    state = serializers.ChoiceField(choices=BotState.choices)
    halted_reason = serializers.CharField(allow_null=True)
    source = SourceField()
    published = serializers.BooleanField()
    targets = TargetOut(many=True)
    sizing = SizingOut()
    order = OrderTemplateOut()
    direction = serializers.CharField()
    symbols = SymbolsOut()
    limits = LimitsOut()
    stats = StatsOut()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    webhook_url = serializers.CharField(required=False, help_text="In the create response only: carries the secret.")


class WebhookOut(serializers.Serializer):
    webhook_url = serializers.CharField()


class ReasonOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class SignalOrderOut(serializers.Serializer):
    order_id = serializers.UUIDField()
    broker = serializers.CharField()
    symbol = serializers.CharField()
    side = serializers.CharField()
    qty = serializers.CharField()
    status = serializers.CharField()
    filled_qty = serializers.CharField()
    avg_fill_price = serializers.CharField(allow_null=True)


class SignalOut(serializers.Serializer):
    """A signal record, as realtime.events.bot_signal builds it (the `bot:signal` data too)."""

    id = serializers.UUIDField()
    bot_id = serializers.UUIDField()
    received_at = serializers.DateTimeField()
    payload = serializers.JSONField(help_text="The body as JSON, or its text when it was not JSON.")
    status = serializers.ChoiceField(choices=SignalStatus.choices)
    reason = ReasonOut(allow_null=True)
    orders = SignalOrderOut(many=True)
    replay_of = serializers.UUIDField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    settled_at = serializers.DateTimeField(allow_null=True)


class SignalIn(serializers.Serializer):
    """The webhook body (documentation only: the hook reads the raw body, JSON or JSON text)."""

    id = serializers.CharField(required=False, max_length=64)
    action = serializers.ChoiceField(choices=["buy", "sell", "close"])
    symbol = serializers.CharField(max_length=32)
    qty = serializers.CharField(required=False)
    price = serializers.CharField(required=False)
    stop_loss = serializers.CharField(required=False)
    take_profit = serializers.CharField(required=False)
    time = serializers.CharField(required=False, help_text="ISO-8601, or epoch seconds or milliseconds.")


class SignalReceivedOut(serializers.Serializer):
    signal_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=SignalStatus.choices)


class KillSwitchIn(serializers.Serializer):
    flatten = serializers.BooleanField(required=False, default=False)


class KillSwitchOut(serializers.Serializer):
    engaged = serializers.BooleanField()
    since = serializers.DateTimeField(allow_null=True)
    flatten = serializers.BooleanField()
