"""Instruments: what each broker trades and how an order in it must be shaped, cached in the database.

Checking an order in the request path reads the cache and needs no broker round trip. A symbol
the cache has not seen is asked for once (`adapter.instrument`) and stored; a symbol the broker
does not list is remembered as unknown for a few minutes. `instruments_refresh` reloads a
broker's whole list daily from its metadata endpoints (where the broker can list it).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from brokers.adapters import base
from brokers.adapters.base import InvalidSymbol, OrderRequest
from brokers.models import BrokerConnection, ConnectionStatus, Instrument
from brokers.sessions import broker_session
from brokers.symbols import symbol_normalize
from config.domain import InvalidInput
from config.money import money_str

logger = logging.getLogger(__name__)

UNKNOWN_TTL_SECONDS = 300
LOOKUP_WAIT_SECONDS = 2.0
# The API names of an order's price fields (the bracket legs are nested objects there).
_PRICE_FIELDS = {
    "limit_price": "limit_price",
    "stop_price": "stop_price",
    "take_profit_limit_price": "take_profit",
    "stop_loss_stop_price": "stop_loss",
    "stop_loss_limit_price": "stop_loss",
}


def instrument_get(*, connection: BrokerConnection, symbol: str) -> Instrument:
    """The instrument `symbol` names at the connection's broker; raises InvalidSymbol."""
    canonical = symbol_normalize(symbol)
    row = Instrument.objects.filter(broker=connection.broker, symbol=canonical).first()
    if row is not None:
        return row
    unknown_key = f"instrument:unknown:{connection.broker}:{canonical}"
    known_unknown = cache.get(unknown_key)
    if known_unknown:
        raise InvalidSymbol(known_unknown)
    try:
        with broker_session(connection, wait=LOOKUP_WAIT_SECONDS) as adapter:
            info = adapter.instrument(canonical)
    except InvalidSymbol as exc:
        cache.set(unknown_key, exc.message, UNKNOWN_TTL_SECONDS)
        raise
    return _store(connection.broker, [info])[0]


def instruments_refresh(*, broker: str) -> int:
    """Reload a broker's instrument list through one of its working connections; returns how many."""
    connection = (
        BrokerConnection.objects.filter(broker=broker, status=ConnectionStatus.CONNECTED).order_by("pk").first()
    )
    if connection is None:
        return 0
    with broker_session(connection) as adapter:
        infos = adapter.instruments()
    return len(_store(broker, infos))


def _store(broker: str, infos: list[base.Instrument]) -> list[Instrument]:
    now = timezone.now()
    rows = [
        Instrument(
            broker=broker,
            symbol=info.symbol,
            asset_class=info.asset_class,
            broker_symbol=info.broker_symbol,
            tick_size=info.tick_size,
            lot_size=info.lot_size,
            min_qty=info.min_qty,
            fractional=info.fractional,
            currency=info.currency,
            refreshed_at=now,
        )
        for info in infos
    ]
    fields = ["asset_class", "broker_symbol", "tick_size", "lot_size", "min_qty", "fractional", "currency"]
    with transaction.atomic():
        Instrument.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["broker", "symbol"],
            update_fields=[*fields, "refreshed_at"],
        )
    return rows


def instrument_check(*, instrument: Instrument, request: OrderRequest) -> None:
    """Refuse an order whose quantity or prices do not fit the instrument, naming each field."""
    errors: dict[str, list[str]] = {}
    qty_problem = _qty_problem(instrument, request.qty)
    if qty_problem:
        errors["qty"] = [qty_problem]
    for name, api_name in _PRICE_FIELDS.items():
        price = getattr(request, name)
        if price is not None and not _multiple(price, instrument.tick_size):
            tick = money_str(instrument.tick_size)
            errors.setdefault(api_name, []).append(f"Prices of {instrument.symbol} move in steps of {tick}.")
    if errors:
        raise InvalidInput(f"The order does not fit how {instrument.symbol} trades.", fields=errors)


def _qty_problem(instrument: Instrument, qty: Decimal) -> str:
    if not instrument.fractional and qty != qty.to_integral_value():
        return f"{instrument.symbol} trades in whole units here."
    if qty < instrument.min_qty:
        return f"The smallest order of {instrument.symbol} is {money_str(instrument.min_qty)}."
    if not _multiple(qty, instrument.lot_size):
        return f"Quantities of {instrument.symbol} are multiples of {money_str(instrument.lot_size)}."
    return ""


def _multiple(value: Decimal, step: Decimal) -> bool:
    return step <= 0 or value % step == 0
