"""Input and output shapes of the broker, order and portfolio API (CONTRACT.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from brokers.adapters.base import NEEDS_PRICE, OrderType, Side, TimeInForce, bracket_problem
from config.money import DECIMAL_PLACES, MAX_DIGITS, money_str

CLIENT_ORDER_ID = r"^[A-Za-z0-9_.:-]{1,64}$"


class MoneyField(serializers.DecimalField):
    """A positive decimal in, a plain-notation string out."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", MAX_DIGITS)
        kwargs.setdefault("decimal_places", DECIMAL_PLACES)
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
    # Connection health, for the brokers page.
    last_success_at = serializers.DateTimeField(allow_null=True, help_text="The last call to the broker that worked.")
    consecutive_failures = serializers.IntegerField()
    failing_since = serializers.DateTimeField(
        allow_null=True, help_text="Unreachable or failing since; null when well."
    )
    auth_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="When the login (an OAuth refresh token) ends."
    )


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
    rate_limit = serializers.DictField(help_text="The limit on placing orders: {requests, per_seconds}.")
    capabilities = serializers.DictField(
        help_text="What the broker supports: time_in_force, time_in_force_by_type (order types that "
        "take fewer), bracket, bracket_legs (any or both), "
        "stop_loss_limit, fractional, short_selling, client_id_dedup, order_updates, session, "
        "rate_limits per kind of call (orders, cancels, queries, market_data)."
    )
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
    currency = serializers.CharField(help_text="The currency of equity and cash: the display currency when converted.")
    account_currency = serializers.CharField()
    converted = serializers.BooleanField(
        help_text="False when no rate is known: amounts unconverted, not in the totals."
    )
    fx_rate = serializers.CharField(allow_null=True)


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
    # Omitted: the broker's first time in force (capabilities), e.g. `day` where the broker has it.
    time_in_force = serializers.ChoiceField(
        choices=[t.value for t in TimeInForce], required=False, allow_null=True, default=None
    )
    take_profit = TakeProfitIn(required=False, allow_null=True, default=None)
    stop_loss = StopLossIn(required=False, allow_null=True, default=None)
    client_order_id = serializers.RegexField(CLIENT_ORDER_ID, required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        needs_limit, needs_stop = NEEDS_PRICE[OrderType(attrs["type"])]
        errors: dict[str, str] = {}
        for name, needed in (("limit_price", needs_limit), ("stop_price", needs_stop)):
            if needed and attrs.get(name) is None:
                errors[name] = f"Required for a {attrs['type']} order."
            elif not needed and attrs.get(name) is not None:
                errors[name] = f"Not used by a {attrs['type']} order."
        take, stop = attrs.get("take_profit") or {}, attrs.get("stop_loss") or {}
        problem = bracket_problem(
            side=Side(attrs["side"]), take_profit=take.get("limit_price"), stop_loss=stop.get("stop_price")
        )
        if problem:
            errors[problem[0]] = problem[1]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def order_values(self) -> dict[str, Any]:
        """The validated order in `OrderRequest`'s field names (the bracket legs flattened)."""
        values = dict(self.validated_data)
        take, stop = values.pop("take_profit") or {}, values.pop("stop_loss") or {}
        values["take_profit_limit_price"] = take.get("limit_price")
        values["stop_loss_stop_price"] = stop.get("stop_price")
        values["stop_loss_limit_price"] = stop.get("limit_price")
        return values


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
