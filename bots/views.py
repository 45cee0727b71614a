"""The bots and kill-switch API: validate, call one service or selector, serialize."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bots import selectors
from bots.models import Bot
from bots.serializers import (
    BotIn,
    BotOut,
    KillSwitchIn,
    KillSwitchOut,
    SignalOut,
    WebhookOut,
)
from bots.services.bots import bot_create, bot_delete, bot_update, bot_webhook_rotate
from bots.services.replay import signal_replay
from brokers.models import KillSwitch
from brokers.services.killswitch import kill_switch_engage, kill_switch_get, kill_switch_release
from config.errors import ApiError


def webhook_url(request: Request, token: str) -> str:
    return request.build_absolute_uri(f"/hooks/bots/{token}")


def bot_data(bot: Bot, stats: dict[str, Any]) -> dict[str, Any]:
    """A bot in the contract's shape (serialized by BotOut)."""
    return {
        "id": bot.pk,
        "name": bot.name,
        "state": bot.state,
        "halted_reason": bot.halted_reason or None,
        "source": {"follow": str(bot.follows_id) if bot.follows_id else None} if bot.source == "follow" else "webhook",
        "published": bot.published,
        "targets": bot.targets,
        "sizing": {"mode": bot.sizing_mode, "value": bot.sizing_value},
        "order": {
            "type": bot.order_type,
            "limit_offset_pct": bot.limit_offset_pct,
            "time_in_force": bot.time_in_force or None,
            "take_profit_pct": bot.take_profit_pct,
            "stop_loss_pct": bot.stop_loss_pct,
        },
        "direction": bot.direction,
        "symbols": {"allowed": bot.symbols_allowed, "map": bot.symbol_map},
        "limits": {name: getattr(bot, name) for name in LIMIT_FIELDS},
        "stats": stats,
        "created_at": bot.created_at,
        "updated_at": bot.updated_at,
    }


LIMIT_FIELDS = (
    "max_order_notional",
    "max_position_notional",
    "max_open_positions",
    "max_daily_loss",
    "max_trades_per_day",
    "max_signal_age_seconds",
)


def _bot_out(bot: Bot, **extra: Any) -> dict[str, Any]:
    stats = selectors.bot_stats(bots=[bot])[bot.pk]
    return {**BotOut(bot_data(bot, stats)).data, **extra}


def _body(request: Request, *, partial: bool) -> BotIn:
    data = BotIn(data=request.data, partial=partial)
    data.is_valid(raise_exception=True)
    return data


class BotListView(APIView):
    @extend_schema(responses=BotOut(many=True))
    def get(self, request: Request) -> Response:
        bots = list(selectors.bot_list(user=request.user))
        stats = selectors.bot_stats(bots=bots)
        return Response(BotOut([bot_data(bot, stats[bot.pk]) for bot in bots], many=True).data)

    @extend_schema(request=BotIn, responses={201: BotOut})
    def post(self, request: Request) -> Response:
        issued = bot_create(user=request.user, values=_body(request, partial=False).to_model())
        extra = {"webhook_url": webhook_url(request, issued.token)} if issued.token else {}
        return Response(_bot_out(issued.bot, **extra), status=status.HTTP_201_CREATED)


class BotDetailView(APIView):
    @extend_schema(responses=BotOut)
    def get(self, request: Request, bot_id: str) -> Response:
        return Response(_bot_out(selectors.bot_get(user=request.user, bot_id=bot_id)))

    @extend_schema(request=BotIn, responses={200: BotOut})
    def patch(self, request: Request, bot_id: str) -> Response:
        bot = selectors.bot_get(user=request.user, bot_id=bot_id)
        bot = bot_update(bot=bot, values=_body(request, partial=True).to_model())
        return Response(_bot_out(bot))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, bot_id: str) -> Response:
        bot_delete(bot=selectors.bot_get(user=request.user, bot_id=bot_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class BotWebhookView(APIView):
    @extend_schema(request=None, responses={200: WebhookOut})
    def post(self, request: Request, bot_id: str) -> Response:
        token = bot_webhook_rotate(bot=selectors.bot_get(user=request.user, bot_id=bot_id))
        return Response({"webhook_url": webhook_url(request, token)})


class BotSignalsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=["accepted", "rejected", "executed", "partially_executed", "failed"]),
            OpenApiParameter("limit", int, description="At most this many, newest first (default 100, up to 500)."),
        ],
        responses=SignalOut(many=True),
    )
    def get(self, request: Request, bot_id: str) -> Response:
        bot = selectors.bot_get(user=request.user, bot_id=bot_id)
        wanted = request.query_params.get("status") or None
        if wanted is not None and not selectors.signal_status_valid(wanted):
            choices = "accepted, rejected, executed, partially_executed or failed"
            raise ApiError(400, "invalid", f"status must be {choices}.", fields={"status": [f"Choose {choices}."]})
        limit = _limit(request.query_params.get("limit"))
        return Response(selectors.signal_records(selectors.signal_list(bot=bot, status=wanted, limit=limit)))


def _limit(raw: str | None) -> int:
    if raw is None:
        return 100
    if not raw.isdigit() or not 1 <= int(raw) <= selectors.SIGNAL_LIST_MAX:
        message = f"limit must be a whole number from 1 to {selectors.SIGNAL_LIST_MAX}."
        raise ApiError(400, "invalid", message, fields={"limit": [message]})
    return int(raw)


class SignalReplayView(APIView):
    @extend_schema(request=None, responses={202: SignalOut})
    def post(self, request: Request, bot_id: str, signal_id: str) -> Response:
        bot = selectors.bot_get(user=request.user, bot_id=bot_id)
        with transaction.atomic():
            replay = signal_replay(signal=selectors.signal_get(bot=bot, signal_id=signal_id))
        return Response(selectors.signal_records([replay])[0], status=status.HTTP_202_ACCEPTED)


def _switch_out(switch: KillSwitch) -> dict[str, Any]:
    return KillSwitchOut({"engaged": switch.engaged, "since": switch.since, "flatten": switch.flatten}).data


class KillSwitchView(APIView):
    @extend_schema(responses=KillSwitchOut)
    def get(self, request: Request) -> Response:
        return Response(_switch_out(kill_switch_get(user_id=request.user.pk)))

    @extend_schema(request=KillSwitchIn, responses={200: KillSwitchOut})
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise ApiError(400, "bad_request", "Expected a JSON object.")
        data = KillSwitchIn(data=request.data)
        data.is_valid(raise_exception=True)
        flatten = data.validated_data["flatten"]
        with transaction.atomic():
            switch = kill_switch_engage(user=request.user, flatten=flatten)
            if flatten:
                transaction.on_commit(lambda: _flatten_later(request.user.pk))
        return Response(_switch_out(switch))

    @extend_schema(request=None, responses={200: KillSwitchOut})
    def delete(self, request: Request) -> Response:
        return Response(_switch_out(kill_switch_release(user=request.user)))


def _flatten_later(user_id: int) -> None:
    from bots.tasks import kill_switch_flatten_task

    kill_switch_flatten_task.delay(user_id)
