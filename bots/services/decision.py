"""The one decision: what a recorded signal becomes for one bot, or the reason it becomes nothing.

Checks, in order, each with its reason code (bots.reasons): the payload, the kill switch, the
bot's state, the signal's age, the symbol map and allow-list, the daily loss, then per target:
the connection, the direction against the bot's position there, the trades of the day, sizing
(rounded down to the lot), the order template, and the limits an entry must fit. A refusal
anywhere refuses the whole signal: no target gets an order another target was refused.

Limits bound what adds risk: order and position notional, open positions and trades per day
apply to entries; an exit (a close, a reducing sell) is never refused by them. Everything is
read inside the caller's transaction, which holds the bot's row lock, so two signals of one bot
are decided one after the other against the same state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from django.utils import timezone

from bots.models import Bot, Direction, Leg, OrderKind, Signal, SizingMode
from bots.payloads import PayloadError, SignalPayload, payload_parse
from bots.reasons import Reason, Refusal
from bots.services import sizing
from bots.services.market import Market
from bots.services.risk import RiskState, daily_loss_refusal, day_pnl, risk_state_read
from brokers.adapters.base import OrderRequest, Quote, Side, bracket_problem
from brokers.adapters.registry import get_spec
from brokers.models import BrokerConnection, Instrument
from brokers.services.instruments import instrument_check
from brokers.services.killswitch import kill_switch_is_engaged
from brokers.services.orders import order_request_build
from brokers.services.orders.placing import capabilities_check
from brokers.symbols import symbol_normalize
from config.domain import InvalidInput

T = TypeVar("T")
ZERO = Decimal(0)


@dataclass(frozen=True)
class PlannedOrder:
    target: str  # the target's broker key as configured on the bot
    connection: BrokerConnection
    leg: Leg
    request: OrderRequest


@dataclass(frozen=True)
class Decision:
    refusal: Refusal | None = None
    orders: tuple[PlannedOrder, ...] = ()


@dataclass(frozen=True)
class _Draft:
    """One leg on one target, before sizing."""

    target: dict[str, Any]
    connection: BrokerConnection
    leg: Leg
    side: Side
    cap: Decimal | None = None  # an exit: at most the position
    whole: bool = False  # an exit of the whole position, not sized
    held_same_side: Decimal = ZERO  # what an entry adds to


class _Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def _ok(value: T | Refusal) -> T:
    if isinstance(value, Refusal):
        raise _Refused(value)
    return value


def _refuse(code: Reason, message: str, *, halts: bool = False) -> _Refused:
    return _Refused(Refusal(code, message, halts=halts))


def signal_decide(*, signal: Signal, bot: Bot, market: Market, replay: bool = False) -> Decision:
    """Decide `signal` for `bot` (locked by the caller): the orders to place, or the refusal.

    A replay (of a recorded signal, on the paper broker) is not refused for the bot's state or
    the signal's age: it is run on purpose, later.
    """
    try:
        return Decision(orders=tuple(_decide(signal, bot, market, replay)))
    except _Refused as refused:
        return Decision(refusal=refused.refusal)


def _decide(signal: Signal, bot: Bot, market: Market, replay: bool) -> list[PlannedOrder]:
    payload = _payload(signal)
    _gate(signal, bot, payload, replay)
    symbol = _symbol(bot, payload)
    state = risk_state_read(bot=bot)
    _daily_loss(bot, state, market)
    drafts = [draft for target in bot.targets for draft in _drafts(bot, payload, target, symbol, state, market)]
    if not drafts:
        raise _refuse(Reason.NO_POSITION, f"The bot has no position in {symbol} to close.")
    if any(d.leg == Leg.ENTRY for d in drafts) and _trades_exhausted(bot, state):
        raise _refuse(Reason.MAX_TRADES_PER_DAY, f"The bot already traded {state.trades_today} times today.")
    return [_planned(signal, bot, payload, symbol, draft, state, market) for draft in drafts]


def _payload(signal: Signal) -> SignalPayload:
    try:
        return payload_parse(signal.payload)
    except PayloadError as exc:
        raise _refuse(Reason.INVALID_PAYLOAD, exc.message) from None


def _gate(signal: Signal, bot: Bot, payload: SignalPayload, replay: bool) -> None:
    if kill_switch_is_engaged(user_id=bot.user_id):
        raise _refuse(Reason.KILL_SWITCH, "The kill switch is engaged.")
    if replay:
        return
    if not bot.running:
        raise _refuse(Reason.BOT_NOT_RUNNING, f"The bot is {bot.state}.")
    if bot.max_signal_age_seconds is not None:
        sent = payload.time or signal.received_at
        age = timezone.now() - sent
        if age > timedelta(seconds=bot.max_signal_age_seconds):
            message = f"The signal is {int(age.total_seconds())} s old; this bot takes {bot.max_signal_age_seconds} s."
            raise _refuse(Reason.STALE_SIGNAL, message)


def _symbol(bot: Bot, payload: SignalPayload) -> str:
    source = symbol_normalize(payload.symbol)
    symbol = symbol_normalize(bot.symbol_map.get(source, source))
    if bot.symbols_allowed is not None and symbol not in bot.symbols_allowed:
        raise _refuse(Reason.SYMBOL_NOT_ALLOWED, f"{symbol} is not among the bot's symbols.")
    return symbol


def _daily_loss(bot: Bot, state: RiskState, market: Market) -> None:
    if bot.max_daily_loss is None:
        return
    prices = {p.symbol: _ok(market.quotes.get(p.symbol)).price for p in state.positions.values()}
    refusal = daily_loss_refusal(bot=bot, pnl=day_pnl(state=state, prices=prices))
    if refusal is not None:
        raise _Refused(refusal)


def _trades_exhausted(bot: Bot, state: RiskState) -> bool:
    return bot.max_trades_per_day is not None and state.trades_today >= bot.max_trades_per_day


def _drafts(
    bot: Bot, payload: SignalPayload, target: dict[str, Any], symbol: str, state: RiskState, market: Market
) -> list[_Draft]:
    """The legs the signal means on one target, given the bot's position there and its direction."""
    connection = _ok(market.connection(target["broker"]))
    held = state.held(connection.broker, symbol)
    exit_side = Side.SELL if held > 0 else Side.BUY
    if payload.action == "close":
        return [_Draft(target, connection, Leg.EXIT, exit_side, cap=abs(held), whole=True)] if held else []
    side = Side.BUY if payload.action == "buy" else Side.SELL
    if held and exit_side == side:  # against the position: reduce it, or reverse it (direction both)
        reverse = bot.direction == Direction.BOTH
        drafts = [_Draft(target, connection, Leg.EXIT, side, cap=abs(held), whole=reverse)]
        if reverse and _can_open(side, connection):
            drafts.append(_Draft(target, connection, Leg.ENTRY, side))
        return drafts
    _direction_check(bot, side, connection)
    return [_Draft(target, connection, Leg.ENTRY, side, held_same_side=abs(held))]


def _can_open(side: Side, connection: BrokerConnection) -> bool:
    return side == Side.BUY or get_spec(connection.broker).capabilities.short_selling


def _direction_check(bot: Bot, side: Side, connection: BrokerConnection) -> None:
    if side == Side.BUY and bot.direction == Direction.SHORT:
        raise _refuse(Reason.DIRECTION_NOT_ALLOWED, "This bot trades short only: a buy with no short to cover.")
    if side == Side.SELL and bot.direction == Direction.LONG:
        raise _refuse(Reason.DIRECTION_NOT_ALLOWED, "This bot trades long only: a sell with no long to reduce.")
    if not _can_open(side, connection):
        name = get_spec(connection.broker).name
        raise _refuse(Reason.DIRECTION_NOT_ALLOWED, f"{name} does not sell short.")


def _planned(
    signal: Signal, bot: Bot, payload: SignalPayload, symbol: str, draft: _Draft, state: RiskState, market: Market
) -> PlannedOrder:
    connection = draft.connection
    instrument = _ok(market.instrument(connection, symbol))
    quote = _ok(market.quote(instrument.symbol, connection))
    limit = None
    if bot.order_type == OrderKind.LIMIT:
        reference = payload.price or quote.price
        limit = sizing.limit_price(
            reference=reference, offset_pct=bot.limit_offset_pct, side=draft.side, tick=instrument.tick_size
        )
    fill_at = limit or (quote.ask if draft.side == Side.BUY else quote.bid)
    qty = _qty(bot, payload, draft, instrument, quote, fill_at, market)
    take, stop = _bracket(bot, payload, draft, fill_at, instrument) if draft.leg == Leg.ENTRY else (None, None)
    request = order_request_build(
        broker=connection.broker,
        client_order_id=f"bt-{signal.pk.hex}-{draft.target['broker']}-{draft.leg}",
        symbol=instrument.symbol,
        side=draft.side,
        type=bot.order_type,
        qty=qty,
        limit_price=limit,
        time_in_force=bot.time_in_force or None,
        take_profit_limit_price=take,
        stop_loss_stop_price=stop,
    )
    _fits(request, connection, instrument)
    if draft.leg == Leg.ENTRY:
        _limits(bot, state, draft, request, fill_at)
    return PlannedOrder(target=draft.target["broker"], connection=connection, leg=draft.leg, request=request)


def _qty(
    bot: Bot,
    payload: SignalPayload,
    draft: _Draft,
    instrument: Instrument,
    quote: Quote,
    fill_at: Decimal,
    market: Market,
) -> Decimal:
    if draft.whole and draft.cap is not None:
        return draft.cap
    percent = bot.sizing_mode in (SizingMode.PERCENT_EQUITY, SizingMode.RISK_PERCENT)
    base = sizing.units(
        sizing.SizingInputs(
            mode=bot.sizing_mode,
            value=bot.sizing_value,
            price=fill_at,
            entry=fill_at,
            signal_qty=payload.qty,
            equity=_ok(market.equity(draft.connection)) if percent else None,
            stop=_stop(bot, payload, draft.side, fill_at),
        )
    )
    qty = _ok(base) * Decimal(str(draft.target.get("multiplier", "1")))
    if draft.cap is not None:
        qty = min(qty, draft.cap)
    qty = sizing.lot_floor(qty, instrument.lot_size)
    if qty <= 0 or qty < instrument.min_qty:
        message = f"The size rounds down to {qty} {instrument.symbol}, below the smallest order ({instrument.min_qty})."
        raise _refuse(Reason.SIZE_TOO_SMALL, message)
    return qty


def _stop(bot: Bot, payload: SignalPayload, side: Side, entry: Decimal) -> Decimal | None:
    if payload.stop_loss is not None:
        return payload.stop_loss
    if bot.stop_loss_pct is None:
        return None
    sign = 1 if side == Side.BUY else -1
    return entry * (1 - sign * bot.stop_loss_pct / sizing.HUNDRED)


def _bracket(
    bot: Bot, payload: SignalPayload, draft: _Draft, entry: Decimal, instrument: Instrument
) -> tuple[Decimal | None, Decimal | None]:
    take, stop = sizing.bracket_prices(
        entry=entry,
        side=draft.side,
        take_profit_pct=bot.take_profit_pct,
        stop_loss_pct=bot.stop_loss_pct,
        tick=instrument.tick_size,
    )
    tick = instrument.tick_size
    take = sizing.tick_round(payload.take_profit, tick) if payload.take_profit is not None else take
    stop = sizing.tick_round(payload.stop_loss, tick) if payload.stop_loss is not None else stop
    problem = bracket_problem(side=draft.side, take_profit=take, stop_loss=stop)
    if problem is not None:
        raise _refuse(Reason.ORDER_NOT_SUPPORTED, problem[1])
    return take, stop


def _fits(request: OrderRequest, connection: BrokerConnection, instrument: Instrument) -> None:
    """The checks `order_place` will make, made first, so no target is placed when another cannot be."""
    spec = get_spec(connection.broker)
    try:
        capabilities_check(capabilities=spec.capabilities, request=request, broker_name=spec.name)
        instrument_check(instrument=instrument, request=request)
    except InvalidInput as exc:
        details = "; ".join(message for messages in exc.fields.values() for message in messages)
        raise _refuse(Reason.ORDER_NOT_SUPPORTED, f"{exc.message} {details}".strip()) from None


def _limits(bot: Bot, state: RiskState, draft: _Draft, request: OrderRequest, price: Decimal) -> None:
    broker, symbol = draft.connection.broker, request.symbol
    notional = request.qty * price
    if bot.max_order_notional is not None and notional > bot.max_order_notional:
        message = f"The order is worth {notional:.2f}, above the bot's {bot.max_order_notional} per order."
        raise _refuse(Reason.MAX_ORDER_NOTIONAL, message)
    if bot.max_position_notional is not None:
        exposure = (draft.held_same_side + state.pending_qty(broker, symbol, draft.side) + request.qty) * price
        if exposure > bot.max_position_notional:
            message = f"The position would be worth {exposure:.2f}, above the bot's {bot.max_position_notional}."
            raise _refuse(Reason.MAX_POSITION_NOTIONAL, message)
    held = state.open_symbols()
    if bot.max_open_positions is not None and symbol not in held and len(held) >= bot.max_open_positions:
        raise _refuse(Reason.MAX_OPEN_POSITIONS, f"The bot already holds {len(held)} positions, its limit.")
