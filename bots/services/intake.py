"""Webhook intake: record every signal first, then queue its decision for the worker.

The web process does only what must happen before the sender gets an answer: find the bot by
its token's hash, take a slot in the token's Redis bucket, check the body is a signal, record
it, queue it. Everything the rules decide happens on the worker (bots.services.execution).
A refusal at the door (a body that is not a signal, too many signals) is recorded as well, as
a rejected signal. The token itself never reaches the database, Redis or a log: only its hash.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from bots.models import Bot, Signal, SignalStatus
from bots.payloads import PayloadError, payload_decode, payload_parse
from bots.reasons import Reason, Refusal
from bots.services.bots import hook_cache_key, webhook_token_hash
from bots.services.events import signal_publish
from bots.services.inbox import inbox_wake, lane_of
from brokers import ratelimit
from brokers.adapters.base import RateLimited
from brokers.adapters.registry import RateLimit
from config.domain import NotFound
from config.nearcache import near_cached

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024
# Per token: alert tools fire in bursts (one alert per symbol at a bar close), so a burst of 12,
# then one every ~0.55 s (brokers.ratelimit's window model of 120 per minute).
HOOK_LIMIT = RateLimit(120, 60, scope="ip")
JSON_TYPES = ("application/json", "text/plain", "")
HOOK_CACHE_SECONDS = 300


@dataclass(frozen=True)
class Received:
    signal: Signal
    duplicate: bool = False  # the bot had this signal id already: `signal` is the first one
    refusal: Refusal | None = None  # refused at the door (recorded as rejected)
    field: str = ""  # the input at fault, for invalid_payload
    retry_after: float | None = None  # for rate_limited


@dataclass(frozen=True)
class Delivery:
    """One POST to the hook, as received; `body` holds at most MAX_BODY_BYTES + 1 bytes."""

    token: str
    body: bytes
    content_type: str
    source_address: str | None
    declared_length: int = 0


def signal_receive(*, delivery: Delivery) -> Received:
    """Record the delivery as a signal of the token's bot and queue its decision.

    Raises NotFound for an unknown or revoked token (nothing is recorded: there is no bot).
    """
    token_hash = webhook_token_hash(delivery.token)
    bot_id = bot_for_token(token_hash=token_hash)
    if bot_id is None:
        raise NotFound("No bot has this webhook.")
    raw = delivery.body[:MAX_BODY_BYTES].decode("utf-8", errors="replace")
    try:
        ratelimit.acquire(broker="bots:hook", identity=token_hash, limit=HOOK_LIMIT)
    except RateLimited as exc:
        refusal = Refusal(Reason.RATE_LIMITED, f"Too many signals for this bot: {exc.message}.")
        return Received(_rejected(bot_id, raw, delivery, refusal), refusal=refusal, retry_after=exc.retry_after)
    try:
        payload = _payload(delivery, raw)
    except PayloadError as exc:
        refusal = Refusal(Reason.INVALID_PAYLOAD, exc.message)
        return Received(_rejected(bot_id, raw, delivery, refusal), refusal=refusal, field=exc.field)
    return _accept(bot_id, raw, delivery, payload)


def bot_for_token(*, token_hash: str) -> uuid.UUID | None:
    """The bot a webhook token's hash belongs to, from this process's near cache when it can.

    Rotating or deleting drops the entry in every process (bots.services.bots), so a revoked
    URL stops working at once.
    """
    raw = near_cached(hook_cache_key(token_hash), lambda: _bot_id_bytes(token_hash), ttl=HOOK_CACHE_SECONDS)
    return uuid.UUID(raw.decode()) if raw else None


def _bot_id_bytes(token_hash: str) -> bytes | None:
    found = Bot.objects.filter(webhook_token_hash=token_hash).values_list("pk", flat=True).first()
    return str(found).encode() if found else None


def _payload(delivery: Delivery, raw: str) -> Any:
    if len(delivery.body) > MAX_BODY_BYTES or delivery.declared_length > MAX_BODY_BYTES:
        raise PayloadError("body", f"The body is over {MAX_BODY_BYTES // 1024} KiB.")
    media = delivery.content_type.split(";", 1)[0].strip().lower()
    if media not in JSON_TYPES and not media.endswith("+json"):
        raise PayloadError("body", "Send the signal as application/json or as JSON text (text/plain).")
    data = payload_decode(raw.lstrip("\ufeff"))
    payload_parse(data)  # the shape only: the worker decides the rest
    return data


def _accept(bot_id: Any, raw: str, delivery: Delivery, payload: dict[str, Any]) -> Received:
    key = f"id:{payload['id']}".strip()[:100] if payload.get("id") not in (None, "") else None
    try:
        with transaction.atomic():
            signal = Signal.objects.create(
                bot_id=bot_id,
                payload=payload,
                raw=raw,
                source_address=delivery.source_address,
                source_key=key,
                lane=lane_of(bot_id),
            )
    except IntegrityError:  # the same signal id again (also from a concurrent delivery)
        return Received(Signal.objects.get(bot_id=bot_id, source_key=key), duplicate=True)
    if not _enqueue(signal):
        return Received(signal, refusal=Refusal(Reason.QUEUE_UNAVAILABLE, signal.reason_message))
    return Received(signal)


def _enqueue(signal: Signal) -> bool:
    """Wake the lane's drainer; when Redis or the queue is away the signal is rejected and its id freed."""
    try:
        inbox_wake(lane=signal.lane or 0)
    except Exception:
        logger.exception("could not queue signal %s", signal.pk)
        signal.status, signal.source_key = SignalStatus.REJECTED, None
        signal.reason_code, signal.reason_message = Reason.QUEUE_UNAVAILABLE, "The worker queue is unavailable; retry."
        signal.save(update_fields=["status", "source_key", "reason_code", "reason_message"])
        return False
    return True


def _rejected(bot_id: Any, raw: str, delivery: Delivery, refusal: Refusal) -> Signal:
    """Record a signal refused at the door (never holding its id: a later delivery may still be taken)."""
    try:
        payload = payload_decode(raw) if len(delivery.body) <= MAX_BODY_BYTES else None
    except PayloadError:
        payload = None
    signal = Signal.objects.create(
        bot_id=bot_id,
        payload=payload,
        raw=raw,
        source_address=delivery.source_address,
        status=SignalStatus.REJECTED,
        decided_at=timezone.now(),
        reason_code=refusal.code,
        reason_message=refusal.message[:500],
    )
    signal_publish(signal)
    return signal
