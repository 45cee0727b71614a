"""Creating, changing, halting and deleting bots; issuing their webhook tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction

from accounts.models import User
from bots.models import RUNNING_STATES, Bot, BotSource, BotState, SizingMode
from brokers.adapters.registry import get_spec
from brokers.gating import broker_access_check
from brokers.models import BrokerConnection
from brokers.services.killswitch import kill_switch_is_engaged
from brokers.services.portfolio import portfolio_changed
from config.domain import Conflict, InvalidInput
from config.nearcache import near_forget_on_commit

TOKEN_PREFIX = "twb_"  # noqa: S105 - a label, not a secret
HUNDRED = Decimal(100)


def webhook_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hook_cache_key(token_hash: str) -> str:
    """The near-cache entry mapping a token's hash to its bot (bots.services.intake)."""
    return f"tw:bots:hook:{token_hash}"


def _forget_token(token_hash: str | None) -> None:
    if token_hash:
        near_forget_on_commit([hook_cache_key(token_hash)])


@dataclass(frozen=True)
class IssuedBot:
    bot: Bot
    token: str | None  # the plaintext webhook token: exists only in this response


def _active_bots_changed(user_id: int) -> None:
    """The portfolio's `active_bots` counts running bots: push `portfolio:update` once this commits."""
    transaction.on_commit(lambda: portfolio_changed(user_id=user_id), robust=True)


def bot_create(*, user: User, values: dict[str, Any]) -> IssuedBot:
    """Create a bot from validated values; a webhook bot gets its token (shown once)."""
    bot = Bot(user=user)
    _apply(bot, values)
    _check(bot, user=user, state_before=BotState.DRAFT)
    token = None
    if bot.source == BotSource.WEBHOOK:
        token = _new_token()
        bot.webhook_token_hash = webhook_token_hash(token)
    bot.save()
    if bot.state in RUNNING_STATES:
        _active_bots_changed(user.pk)
    return IssuedBot(bot=bot, token=token)


def bot_update(*, bot: Bot, values: dict[str, Any]) -> Bot:
    """Change any writable field, `state` included (leaving `halted` clears its reason)."""
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=bot.pk)
        state_before = bot.state
        _apply(bot, values)
        _check(bot, user=bot.user, state_before=state_before)
        if bot.source != BotSource.WEBHOOK:
            _forget_token(bot.webhook_token_hash)
            bot.webhook_token_hash = None
        if bot.state != BotState.HALTED:
            bot.halted_reason = ""
        bot.save()
        if (state_before in RUNNING_STATES) != (bot.state in RUNNING_STATES):
            _active_bots_changed(bot.user_id)
    return bot


def bot_delete(*, bot: Bot) -> None:
    """Delete the bot and its signal log; its orders stay as the user's order history."""
    with transaction.atomic():
        _forget_token(bot.webhook_token_hash)
        if bot.state in RUNNING_STATES:
            _active_bots_changed(bot.user_id)
        bot.delete()


def bot_webhook_rotate(*, bot: Bot) -> str:
    """A new webhook token; the old URL stops working at once. Returns the token (shown once)."""
    if bot.source != BotSource.WEBHOOK:
        raise Conflict("This bot follows another bot; it has no webhook.", code="not_a_webhook_bot")
    token = _new_token()
    with transaction.atomic():
        old = Bot.objects.select_for_update().filter(pk=bot.pk).values_list("webhook_token_hash", flat=True).first()
        Bot.objects.filter(pk=bot.pk).update(webhook_token_hash=webhook_token_hash(token))
        _forget_token(old)
    return token


def bot_halt(*, bot_id: Any, reason: str) -> None:
    """Stop a bot because a rule said so (`halted_reason`); only a person restarts it."""
    user_id = Bot.objects.filter(pk=bot_id, state__in=RUNNING_STATES).values_list("user_id", flat=True).first()
    Bot.objects.filter(pk=bot_id).update(state=BotState.HALTED, halted_reason=reason)
    if user_id is not None:
        _active_bots_changed(user_id)


def bots_halt_all(*, user_id: int, reason: str) -> int:
    """Halt every bot of the user (the kill switch); returns how many."""
    if Bot.objects.filter(user_id=user_id, state__in=RUNNING_STATES).exists():
        _active_bots_changed(user_id)
    return Bot.objects.filter(user_id=user_id).update(state=BotState.HALTED, halted_reason=reason)


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _apply(bot: Bot, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(bot, name, value)


def _check(bot: Bot, *, user: User, state_before: str) -> None:
    """The rules that need the user, other bots or the whole bot (fields alone passed the serializer)."""
    _source_check(bot, user=user)
    if bot.sizing_mode in (SizingMode.PERCENT_EQUITY, SizingMode.RISK_PERCENT) and bot.sizing_value > HUNDRED:
        raise InvalidInput.field("sizing", "A percentage is at most 100.")
    if bot.state == BotState.HALTED and state_before != BotState.HALTED:
        raise InvalidInput.field("state", "Choose draft, paper, live or paused; bots are halted by their rules.")
    if bot.state in RUNNING_STATES and bot.state != state_before:
        _start_check(bot, user=user)


def _source_check(bot: Bot, *, user: User) -> None:
    if bot.source == BotSource.WEBHOOK:
        bot.follows_id = None
        return
    if bot.published:
        raise InvalidInput.field("published", "Only a webhook bot can be published; a follower cannot be followed.")
    leader = Bot.objects.filter(pk=bot.follows_id).first() if bot.follows_id else None
    ok = (
        leader is not None
        and leader.published
        and leader.source == BotSource.WEBHOOK
        and leader.user_id != user.pk
        and leader.pk != bot.pk
    )
    if not ok:
        raise InvalidInput.field("source", "No published bot of another user has this id.")


def _start_check(bot: Bot, *, user: User) -> None:
    """Starting (paper or live) needs targets and a released kill switch; live needs its connections and tier."""
    if kill_switch_is_engaged(user_id=user.pk):
        raise Conflict("The kill switch is engaged; release it before starting a bot.", code="kill_switch_engaged")
    if not bot.targets:
        raise InvalidInput.field("targets", "Add at least one target before starting the bot.")
    if bot.state != BotState.LIVE:
        return
    connected = set(BrokerConnection.objects.filter(user=user).values_list("broker", flat=True))
    for target in bot.targets:
        spec = get_spec(target["broker"])
        broker_access_check(user=user, spec=spec)
        if spec.key not in connected:
            raise InvalidInput.field("targets", f"Connect {spec.name} before running this bot live.")
