"""The portfolio: every connection's latest snapshot summed into one view (CONTRACT.md)."""

from __future__ import annotations

import hashlib
import json
import logging
from bisect import bisect_right
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts.models import User
from brokers.models import BalanceSnapshot, BrokerConnection
from config.money import money_str
from config.times import iso_utc
from realtime import events
from realtime.publish import publish_to_user
from watchlist.marketdata import fx_rates

logger = logging.getLogger(__name__)

SPARKLINE_POINTS = 48  # one per 30 minutes over 24 hours
DAY = timedelta(hours=24)


def _value_at(series: list[tuple[datetime, Decimal, Decimal]], moment: datetime) -> tuple[Decimal, Decimal] | None:
    """(equity, cash) of the last snapshot at or before `moment` in an ascending series."""
    index = bisect_right(series, moment, key=lambda row: row[0])
    return series[index - 1][1:] if index else None


def _series(connection_ids: list[int], since: datetime) -> dict[int, list[tuple[datetime, Decimal, Decimal]]]:
    """Snapshots from the last one before `since` onwards, per connection, oldest first."""
    rows = BalanceSnapshot.objects.filter(connection_id__in=connection_ids, as_of__gte=since).order_by("as_of")
    series: dict[int, list[tuple[datetime, Decimal, Decimal]]] = defaultdict(list)
    for conn_id in connection_ids:
        before = (
            BalanceSnapshot.objects.filter(connection_id=conn_id, as_of__lt=since)
            .order_by("-as_of")
            .values_list("as_of", "equity", "cash")
            .first()
        )
        if before:
            series[conn_id].append(before)
    for conn_id, as_of, equity, cash in rows.values_list("connection_id", "as_of", "equity", "cash"):
        series[conn_id].append((as_of, equity, cash))
    return series


def _sparkline(series: list[list[tuple[datetime, Decimal, Decimal]]], now: datetime) -> list[dict[str, str]]:
    step = DAY / SPARKLINE_POINTS
    points = []
    for i in range(SPARKLINE_POINTS + 1):
        moment = now - DAY + step * i
        values = [v for v in (_value_at(s, moment) for s in series) if v is not None]
        if values:
            points.append({"t": iso_utc(moment), "v": money_str(sum((v[0] for v in values), Decimal(0)))})
    return points


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"))


def _pct(change: Decimal, base: Decimal) -> Decimal:
    return (change / base * 100).quantize(Decimal("0.01")) if base else Decimal(0)


def _converted(rows: list[tuple[datetime, Decimal, Decimal]], rate: Decimal) -> list[tuple[datetime, Decimal, Decimal]]:
    return rows if rate == 1 else [(at, equity * rate, cash * rate) for at, equity, cash in rows]


def portfolio_get(*, user_id: int) -> dict[str, Any]:
    """GET /api/portfolio: totals in the user's display currency, 24h P&L from the snapshots, sparklines.

    An account in another currency is converted at the market-data source's rate; one with no
    rate is shown in its own currency, flagged `converted: false`, and left out of the totals.
    """
    from bots.selectors import bot_active_count  # bots builds on brokers, not the other way round

    now = timezone.now()
    display = User.objects.filter(pk=user_id).values_list("display_currency", flat=True).first() or "USD"
    connections = list(BrokerConnection.objects.filter(user_id=user_id).order_by("broker"))
    rates = fx_rates({c.currency for c in connections}, to=display)
    series = _series([c.pk for c in connections], now - DAY)
    brokers, counted, total, cash, base = [], [], Decimal(0), Decimal(0), Decimal(0)
    for conn in connections:
        rate = rates.get(conn.currency.upper())
        rows = _converted(series.get(conn.pk, []), rate or Decimal(1))
        latest = rows[-1] if rows else None
        opening = _value_at(rows, now - DAY) or (rows[0][1:] if rows else None)
        if latest and rate is not None:
            counted.append(rows)
            total += latest[1]
            cash += latest[2]
            base += opening[0] if opening else latest[1]
        brokers.append(
            {
                "broker": conn.broker,
                "equity": money_str(_cents(latest[1])) if latest else None,
                "cash": money_str(_cents(latest[2])) if latest else None,
                "status": conn.status,
                "as_of": iso_utc(latest[0]) if latest else None,
                "sparkline": _sparkline([rows], now),
                # The amounts above are in the display currency, or in the account's own when no rate is known.
                "currency": display if rate is not None else conn.currency,
                "account_currency": conn.currency,
                "converted": rate is not None,
                "fx_rate": money_str(rate),
            }
        )
    day_pnl = total - base
    return {
        "currency": display,
        "total_value": money_str(_cents(total)),
        "cash": money_str(_cents(cash)),
        "day_pnl": money_str(_cents(day_pnl)),
        "day_pnl_pct": money_str(_pct(day_pnl, base)),
        "active_bots": bot_active_count(user_id=user_id),
        "brokers": brokers,
        "sparkline": _sparkline(counted, now),
        "as_of": iso_utc(now),
    }


def portfolio_changed(*, user_id: int) -> None:
    """Send `portfolio:update` when the user's portfolio differs from the last one sent."""
    portfolio = portfolio_get(user_id=user_id)
    figures = {k: portfolio[k] for k in ("total_value", "cash", "day_pnl", "active_bots")}
    figures["brokers"] = [(b["broker"], b["equity"], b["cash"], b["status"]) for b in portfolio["brokers"]]
    digest = hashlib.sha256(json.dumps(figures, sort_keys=True).encode()).hexdigest()
    key = f"portfolio:digest:{user_id}"
    try:
        if cache.get(key) == digest:
            return
        cache.set(key, digest, timeout=settings.BALANCE_POLL_SECONDS * 10)
    except Exception:  # Redis away: sending a possibly unchanged update is the safe side
        logger.warning("portfolio digest cache unavailable", exc_info=True)
    publish_to_user(user_id, events.PORTFOLIO_UPDATE, portfolio)
