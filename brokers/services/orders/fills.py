"""Fills: executions recorded once by the broker's execution id; an order's figures derive from them.

Brokers that report each execution (IB's execDetails, Kraken's trades) give us their ids. Brokers
that report only cumulative figures (filled quantity, average price, fee so far) get one derived
fill per increase, its id made from the cumulative quantity, so a repeated report is the same
fill again. When real executions arrive for an order, they replace the derived ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from brokers.adapters.base import OrderState
from brokers.models import Fill, Order
from config.money import QUANTUM

DERIVED = "cum:"


@dataclass(frozen=True)
class FillTotals:
    qty: Decimal
    avg_price: Decimal | None
    fee: Decimal


def fills_record(*, order: Order, state: OrderState) -> None:
    """Store what `state` says was executed beyond what is recorded (inside the caller's transaction)."""
    if state.fills:
        Fill.objects.filter(order=order, execution_id__startswith=DERIVED).delete()
        Fill.objects.bulk_create(
            [
                Fill(
                    order=order,
                    connection_id=order.connection_id,
                    execution_id=execution.execution_id,
                    qty=execution.qty,
                    price=execution.price,
                    fee=execution.fee,
                    fee_currency=execution.fee_currency,
                    executed_at=execution.executed_at or timezone.now(),
                )
                for execution in state.fills
            ],
            ignore_conflicts=True,  # the same execution reported again
        )
    _derive_remainder(order, state)


def _derive_remainder(order: Order, state: OrderState) -> None:
    recorded = fills_totals(order=order)
    missing = state.filled_qty - recorded.qty
    if missing <= 0 or state.avg_fill_price is None:
        return
    notional_before = sum((f.qty * f.price for f in Fill.objects.filter(order=order)), Decimal(0))
    price = (state.avg_fill_price * state.filled_qty - notional_before) / missing
    Fill.objects.bulk_create(
        [
            Fill(
                order=order,
                connection_id=order.connection_id,
                execution_id=f"{DERIVED}{state.broker_order_id or order.pk}:{state.filled_qty}",
                qty=missing,
                price=price.quantize(QUANTUM),
                fee=max(state.fee - recorded.fee, Decimal(0)),
                executed_at=state.updated_at or timezone.now(),
            )
        ],
        ignore_conflicts=True,
    )


def fills_totals(*, order: Order) -> FillTotals:
    """The order's filled quantity, average price and fee, from its fills."""
    rows = list(Fill.objects.filter(order=order).values_list("qty", "price", "fee"))
    qty = sum((row[0] for row in rows), Decimal(0))
    if not qty:
        return FillTotals(Decimal(0), None, sum((row[2] for row in rows), Decimal(0)))
    notional = sum((row[0] * row[1] for row in rows), Decimal(0))
    return FillTotals(qty, (notional / qty).quantize(QUANTUM), sum((row[2] for row in rows), Decimal(0)))
