"""Processing a recorded signal on the worker: decide, then place its orders through `order_place`.

The decision and the orders are one transaction holding the bot's row lock: either the signal
is decided and all its orders are stored (their submission queued on commit), or nothing is.
Client order ids derive from (signal, target, leg), and `order_place` returns the first order
for a repeated id, so a task that runs twice never places twice.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from bots.models import BotSource, BotState, Signal, SignalOrder, SignalStatus
from bots.reasons import Reason, Refusal
from bots.services.bots import bot_halt
from bots.services.decision import Decision, signal_decide
from bots.services.events import signal_publish
from bots.services.market import Market, QuoteBook
from brokers.adapters.base import BrokerError
from brokers.gating import PAPER
from brokers.models import Order
from brokers.services.orders import order_enqueue_submit, order_place, order_submit
from config.domain import DomainError

logger = logging.getLogger(__name__)


def signal_process(*, signal_id: str, quotes: QuoteBook | None = None) -> Signal | None:
    """Decide a recorded signal and place its orders; a decided signal is left as it is.

    `quotes` is shared by a batch of followers of one leader signal (one quote per symbol).
    """
    placed: list[Order] = []
    try:
        with transaction.atomic():
            decided = _decide_and_place(signal_id, quotes or QuoteBook(), placed)
    except (DomainError, BrokerError) as exc:  # order_place said no after the decision said yes
        placed.clear()
        with transaction.atomic():
            decided = _refuse(_locked(signal_id), _placing_refusal(exc))
    if decided is None or not placed:
        return decided
    if decided.replay_of_id is None and decided.bot.published:
        transaction.on_commit(lambda: _fan_out_later(decided))
    transaction.on_commit(lambda: _submit_local(placed))
    return decided


def _locked(signal_id: str) -> Signal:
    """The signal with its bot, both rows locked: one bot's signals are decided one at a time."""
    return Signal.objects.select_for_update(of=("self", "bot")).select_related("bot__user").get(pk=signal_id)


def _submit_local(orders: list[Order]) -> None:
    """Submit the signal's paper orders here and now.

    The paper broker is local (its books are in our database): submitting in the task that
    placed the orders saves each a trip through the queue, so `order_place` queued none for
    them. One that fails here for a passing reason is queued then (its task retries with
    backoff); one this process never reaches (it died) is submitted by the reconcile sweep.
    Orders on real brokers are left to their queued tasks: a slow broker must not hold up the batch.
    """
    for order in orders:
        if order.broker != PAPER:
            continue
        try:
            order_submit(order_id=str(order.pk))
        except (BrokerError, DatabaseError, RedisError) as exc:  # a passing failure, or a store went away
            logger.info("inline submit of %s failed (%s); queued for a retry", order.pk, exc)
            order_enqueue_submit(order)


def _decide_and_place(signal_id: str, quotes: QuoteBook, placed: list[Order]) -> Signal | None:
    signal = (
        Signal.objects.select_for_update(of=("self", "bot")).select_related("bot__user").filter(pk=signal_id).first()
    )
    if signal is None or signal.decided_at is not None:
        return signal
    bot, replay = signal.bot, signal.replay_of_id is not None
    market = Market(user=bot.user, paper=replay or bot.state == BotState.PAPER, quotes=quotes)
    decision = signal_decide(signal=signal, bot=bot, market=market, replay=replay)
    if decision.refusal is not None:
        return _refuse(signal, decision.refusal)
    return _place(signal, decision, placed)


def _place(signal: Signal, decision: Decision, placed: list[Order]) -> Signal:
    bot = signal.bot
    # Registered before order_place registers the orders' submissions: the decided record leaves
    # before anything about a fill can (an eager or fast submit would otherwise overtake it).
    transaction.on_commit(lambda: signal_publish(signal, orders=placed))
    for planned in decision.orders:
        queue = planned.connection.broker != PAPER  # paper orders are submitted inline (_submit_local)
        order, _ = order_place(user=bot.user, connection=planned.connection, request=planned.request, queue=queue)
        SignalOrder.objects.create(signal=signal, bot=bot, order=order, target=planned.target, leg=planned.leg)
        placed.append(order)
    signal.decided_at = timezone.now()
    signal.save(update_fields=["decided_at"])
    return signal


def _refuse(signal: Signal, refusal: Refusal) -> Signal:
    signal.status, signal.decided_at = SignalStatus.REJECTED, timezone.now()
    signal.reason_code, signal.reason_message = refusal.code, refusal.message[:500]
    signal.save(update_fields=["status", "decided_at", "reason_code", "reason_message"])
    if refusal.halts:
        bot_halt(bot_id=signal.bot_id, reason=refusal.code)
    signal_publish(signal)
    return signal


def _placing_refusal(exc: DomainError | BrokerError) -> Refusal:
    if isinstance(exc, DomainError) and exc.error_code == "kill_switch_engaged":
        return Refusal(Reason.KILL_SWITCH, "The kill switch is engaged.")
    if isinstance(exc, BrokerError):
        return Refusal(Reason.BROKER_UNAVAILABLE, exc.message)
    return Refusal(Reason.ORDER_NOT_SUPPORTED, exc.message)


def signal_fail(*, signal_id: object, message: str) -> None:
    """Reject a signal whose decision raised (the error is logged by the caller)."""
    with transaction.atomic():
        signal = _locked(str(signal_id))
        if signal.decided_at is None:
            _refuse(signal, Refusal(Reason.INTERNAL_ERROR, message))


def _fan_out_later(signal: Signal) -> None:
    if signal.bot.source != BotSource.WEBHOOK:
        return  # a follower is never followed
    from bots.tasks import signal_fan_out_task

    try:
        signal_fan_out_task.delay(str(signal.pk))
    except Exception:  # the queue is away; the leader's own orders stand
        logger.exception("could not queue the fan-out of signal %s", signal.pk)
