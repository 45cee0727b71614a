"""Input and output shapes of the broker, order and portfolio API (CONTRACT.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from brokers.adapters.base import OrderType, Side, TimeInForce
from config.money import money_str

CLIENT_ORDER_ID = r"^[A-Za-z0-9_.:-]{1,64}$"


class MoneyField(serializers.DecimalField):
    """A positive decimal in, a plain-notation string out."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 28)
        kwargs.setdefault("decimal_places", 10)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str | None:
        return money_str(Decimal(value)) if value is not None else None


def _positive(value: Decimal) -> None:
    if value <= 0:
        raise serializers.ValidationError("Must be greater than zero.")


class PositiveMoney(MoneyField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validators=[_positive], **kwargs)


# --- connections -------------------------------------------------------------------


class ConnectionTestIn(serializers.Serializer):
    broker = serializers.CharField(max_length=32)
    credentials = serializers.DictField(child=serializers.CharField(allow_blank=True, max_length=10_000), default=dict)
    paper = serializers.BooleanField(default=False)


class ConnectionConfigureIn(ConnectionTestIn):
    label = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class AccountOut(serializers.Serializer):
    id = serializers.CharField()
    currency = serializers.CharField()
    paper = serializers.BooleanField()


class ConnectionTestOut(serializers.Serializer):
    ok = serializers.BooleanField()
    account = AccountOut()


class ConnectionOut(serializers.Serializer):
    broker = serializers.CharField()
    label = serializers.CharField()
    paper = serializers.BooleanField()
    status = serializers.CharField()
    last_error = serializers.CharField()
    last_checked_at = serializers.DateTimeField(allow_null=True)
    credential_hint = serializers.CharField()
    account_id = serializers.CharField()
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()
    authorize_url = serializers.CharField(required=False)


class BalanceOut(serializers.Serializer):
    broker = serializers.CharField()
    currency = serializers.CharField()
    cash = MoneyField()
    equity = MoneyField()
    buying_power = MoneyField()
    as_of = serializers.DateTimeField()
    stale = serializers.BooleanField()


class PositionOut(serializers.Serializer):
    symbol = serializers.CharField()
    qty = MoneyField()
    avg_price = MoneyField()
    market_price = MoneyField()
    market_value = MoneyField()
    unrealized_pnl = MoneyField()


class SupportedBrokerOut(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    asset_classes = serializers.ListField(child=serializers.CharField())
    order_types = serializers.ListField(child=serializers.CharField())
    bracket = serializers.CharField()
    paper_trading = serializers.BooleanField()
    auth = serializers.CharField()
    credential_fields = serializers.ListField(child=serializers.DictField())
    rate_limit = serializers.DictField()
    enabled = serializers.BooleanField()
    premium_required = serializers.BooleanField()
    docs_url = serializers.CharField(help_text="The broker's API documentation; empty for the paper broker.")
    short_name = serializers.CharField(help_text='The name in a sentence, e.g. "Continue to Schwab".')
    disabled_reason = serializers.CharField(help_text='Why `enabled` is false; "" when enabled.')


# --- portfolio -------------------------------------------------------------------


class SparkPointOut(serializers.Serializer):
    t = serializers.DateTimeField()
    v = serializers.CharField()


class PortfolioBrokerOut(serializers.Serializer):
    broker = serializers.CharField()
    equity = serializers.CharField(allow_null=True)
    cash = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    as_of = serializers.DateTimeField(allow_null=True)
    sparkline = SparkPointOut(many=True)


class PortfolioOut(serializers.Serializer):
    """Built by brokers.services.portfolio.portfolio_get; described here for the schema."""

    currency = serializers.CharField()
    total_value = serializers.CharField()
    cash = serializers.CharField()
    day_pnl = serializers.CharField()
    day_pnl_pct = serializers.CharField()
    active_bots = serializers.IntegerField()
    brokers = PortfolioBrokerOut(many=True)
    sparkline = SparkPointOut(many=True)
    as_of = serializers.DateTimeField()


# --- orders --------------------------------------------------------------------------


class TakeProfitIn(serializers.Serializer):
    limit_price = PositiveMoney()


class StopLossIn(serializers.Serializer):
    stop_price = PositiveMoney()
    limit_price = PositiveMoney(required=False, allow_null=True, default=None)


class OrderIn(serializers.Serializer):
    symbol = serializers.CharField(max_length=32)
    side = serializers.ChoiceField(choices=[s.value for s in Side])
    type = serializers.ChoiceField(choices=[t.value for t in OrderType])
    qty = PositiveMoney()
    limit_price = PositiveMoney(required=False, allow_null=True, default=None)
    stop_price = PositiveMoney(required=False, allow_null=True, default=None)
    time_in_force = serializers.ChoiceField(choices=[t.value for t in TimeInForce], default=TimeInForce.DAY.value)
    take_profit = TakeProfitIn(required=False, allow_null=True, default=None)
    stop_loss = StopLossIn(required=False, allow_null=True, default=None)
    client_order_id = serializers.RegexField(CLIENT_ORDER_ID, required=False, allow_null=True, default=None)

    _NEEDS = {
        OrderType.MARKET: (False, False),
        OrderType.LIMIT: (True, False),
        OrderType.STOP: (False, True),
        OrderType.STOP_LIMIT: (True, True),
    }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        needs_limit, needs_stop = self._NEEDS[OrderType(attrs["type"])]
        errors: dict[str, str] = {}
        for name, needed in (("limit_price", needs_limit), ("stop_price", needs_stop)):
            if needed and attrs.get(name) is None:
                errors[name] = f"Required for a {attrs['type']} order."
            elif not needed and attrs.get(name) is not None:
                errors[name] = f"Not used by a {attrs['type']} order."
        errors.update(self._bracket_errors(attrs))
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    @staticmethod
    def _bracket_errors(attrs: dict[str, Any]) -> dict[str, str]:
        take, stop = attrs.get("take_profit"), attrs.get("stop_loss")
        if not take or not stop:
            return {}
        # The exit legs of a buy sit above (profit) and below (loss) the entry; a sell's the reverse.
        if attrs["side"] == Side.BUY and take["limit_price"] <= stop["stop_price"]:
            return {"take_profit": "For a buy, take-profit must be above the stop-loss."}
        if attrs["side"] == Side.SELL and take["limit_price"] >= stop["stop_price"]:
            return {"take_profit": "For a sell, take-profit must be below the stop-loss."}
        return {}


class OrderOut(serializers.Serializer):
    id = serializers.UUIDField()
    client_order_id = serializers.CharField()
    broker = serializers.CharField()
    symbol = serializers.CharField()
    side = serializers.CharField()
    type = serializers.CharField()
    qty = MoneyField()
    limit_price = MoneyField(allow_null=True)
    stop_price = MoneyField(allow_null=True)
    time_in_force = serializers.CharField()
    take_profit = serializers.SerializerMethodField()
    stop_loss = serializers.SerializerMethodField()
    status = serializers.CharField()
    broker_order_id = serializers.CharField()
    filled_qty = MoneyField()
    avg_fill_price = MoneyField(allow_null=True)
    fee = MoneyField()
    error = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_take_profit(self, order: Any) -> dict[str, str | None] | None:
        if order.take_profit_limit_price is None:
            return None
        return {"limit_price": money_str(order.take_profit_limit_price)}

    def get_stop_loss(self, order: Any) -> dict[str, str | None] | None:
        if order.stop_loss_stop_price is None:
            return None
        return {
            "stop_price": money_str(order.stop_loss_stop_price),
            "limit_price": money_str(order.stop_loss_limit_price),
        }

    def get_error(self, order: Any) -> dict[str, str] | None:
        return {"code": order.error_code, "message": order.error_message} if order.error_code else None
