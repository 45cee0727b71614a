"""The paper broker's books: cash, positions and order records, changed only under the account lock.

Every function here expects to run inside `transaction.atomic()` after the caller has locked
the account row (`select_for_update`), so two processes can never double-fill an order or
spend the same cash twice. Checks raise before anything is written.
"""

from __future__ import annotations

from decimal import Decimal

from brokers.adapters.base import (
    InsufficientFunds,
    LegRole,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    TimeInForce,
)
from brokers.adapters.paper import rules
from brokers.models import PaperAccount, PaperOrder, PaperPosition
from config.money import QUANTUM

WORKING = OrderStatus.SUBMITTED  # on the book: matched on every pass
HELD = OrderStatus.PENDING  # a bracket leg waiting for its parent to fill
OPEN = (HELD.value, WORKING.value)  # paper orders fill whole and never go missing
_FILL_FIELDS = ["status", "filled_qty", "avg_fill_price", "fee", "updated_at"]


def plain(value: Decimal | int) -> Decimal:
    """`value` without the database's trailing zeros (`10.0000000000` → `10`), never as `1E+1`."""
    value = Decimal(value)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


_ROLES: dict[str, LegRole] = {"tp": "take_profit", "sl": "stop_loss"}


def order_state(order: PaperOrder) -> OrderState:
    """The adapter-level view of one paper order; a bracket's entry carries its legs."""
    legs = () if order.parent_id else tuple(order_state(leg) for leg in order.legs.order_by("client_order_id"))
    return OrderState(
        broker_order_id=str(order.id),
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=Side(order.side),
        type=OrderType(order.type),
        qty=plain(order.qty),
        status=OrderStatus(order.status),
        filled_qty=plain(order.filled_qty),
        avg_fill_price=None if order.avg_fill_price is None else plain(order.avg_fill_price),
        fee=plain(order.fee),
        reason=order.reason,
        updated_at=order.updated_at,
        legs=legs,
        role=_ROLES.get(order.client_order_id.rpartition(":")[2], "") if order.parent_id else "",
    )


# --- checks ----------------------------------------------------------------------------


def require_cash(account: PaperAccount, symbol: str, qty: Decimal, cost: Decimal) -> None:
    if cost > account.cash:
        cash = rules.money(account.cash)
        raise InsufficientFunds(f"Buying {plain(qty)} {symbol} needs {cost} USD including fees; cash is {cash} USD.")


def require_position(account: PaperAccount, symbol: str, qty: Decimal) -> PaperPosition:
    position = PaperPosition.objects.filter(account=account, symbol=symbol).first()
    held = position.qty if position else Decimal(0)
    if position is None or held < qty:
        raise OrderRejected(f"Cannot sell {plain(qty)} {symbol}: {plain(held)} held (no short selling).")
    return position


def placement_check(account: PaperAccount, request: OrderRequest, symbol: str, quote: Quote) -> None:
    """Refuse at once what cannot be paid for or delivered. Nothing is reserved: fills re-check."""
    if request.side is Side.SELL:
        require_position(account, symbol, request.qty)
        return
    per_unit = rules.reference_price(request.type, request.limit_price, request.stop_price, quote)
    notional = rules.money(request.qty * per_unit)
    require_cash(account, symbol, request.qty, notional + rules.fee(symbol, notional, rules.Liquidity.TAKER))


# --- changes ------------------------------------------------------------------------------


def fill(account: PaperAccount, order: PaperOrder, price: Decimal, liquidity: rules.Liquidity) -> list[PaperOrder]:
    """Execute all of `order` at `price`: move cash and position, then bracket legs and OCO.

    Returns every order whose state changed. Raises InsufficientFunds / OrderRejected, having
    written nothing, when the cash or the position is not there at fill time.
    """
    notional = rules.money(order.qty * price)
    charged = rules.fee(order.symbol, notional, liquidity)
    if order.side == Side.BUY:
        require_cash(account, order.symbol, order.qty, notional + charged)
        _position_add(account, order.symbol, order.qty, price)
        account.cash -= notional + charged
    else:
        _position_reduce(require_position(account, order.symbol, order.qty), order.qty)
        account.cash += notional - charged
    account.save(update_fields=["cash"])
    order.status, order.filled_qty, order.avg_fill_price, order.fee = OrderStatus.FILLED, order.qty, price, charged
    order.save(update_fields=_FILL_FIELDS)
    return [order, *_legs_release(order), *_oco_cancel(order)]


def trigger(order: PaperOrder) -> list[PaperOrder]:
    """A stop-limit's stop fired but its limit is not reachable: from now on it is a plain limit."""
    order.stop_price = None
    order.save(update_fields=["stop_price", "updated_at"])
    return [order]


def close(order: PaperOrder, status: OrderStatus, reason: str) -> list[PaperOrder]:
    """End an open order (canceled or rejected) and every leg still held for it."""
    held = PaperOrder.objects.filter(parent=order, status=HELD)
    return [_end(order, status, reason), *(_end(leg, OrderStatus.CANCELED, f"parent order {status}") for leg in held)]


def legs_create(parent: PaperOrder, request: OrderRequest) -> None:
    """Store a buy's take-profit and stop-loss as held sell legs of one OCO group.

    They wait (status pending) until the parent fills, then go on the book; their client ids
    are `<parent broker_order_id>:tp` and `:sl` (see `engine.bracket_parent_id`).
    """
    if request.take_profit_limit_price is not None:
        _leg(parent, "tp", OrderType.LIMIT, limit=request.take_profit_limit_price, stop=None)
    if request.stop_loss_stop_price is not None:
        kind = OrderType.STOP if request.stop_loss_limit_price is None else OrderType.STOP_LIMIT
        _leg(parent, "sl", kind, limit=request.stop_loss_limit_price, stop=request.stop_loss_stop_price)


def _leg(parent: PaperOrder, tag: str, kind: OrderType, *, limit: Decimal | None, stop: Decimal | None) -> None:
    PaperOrder.objects.create(
        account_id=parent.account_id,
        client_order_id=f"{parent.id}:{tag}",
        parent=parent,
        oco_group=str(parent.id),
        symbol=parent.symbol,
        side=Side.SELL,
        type=kind,
        qty=parent.qty,
        limit_price=limit,
        stop_price=stop,
        time_in_force=TimeInForce.GTC,
        status=HELD,
    )


def _legs_release(parent: PaperOrder) -> list[PaperOrder]:
    legs = list(PaperOrder.objects.filter(parent=parent, status=HELD))
    for leg in legs:
        leg.status = WORKING
        leg.save(update_fields=["status", "updated_at"])
    return legs


def _oco_cancel(order: PaperOrder) -> list[PaperOrder]:
    if not order.oco_group:
        return []
    siblings = PaperOrder.objects.filter(account_id=order.account_id, oco_group=order.oco_group, status__in=OPEN)
    siblings = siblings.exclude(pk=order.pk)
    return [_end(sibling, OrderStatus.CANCELED, "OCO: the other leg filled") for sibling in siblings]


def _end(order: PaperOrder, status: OrderStatus, reason: str) -> PaperOrder:
    order.status, order.reason = status, reason[:200]  # the column's length
    order.save(update_fields=["status", "reason", "updated_at"])
    return order


def _position_add(account: PaperAccount, symbol: str, qty: Decimal, price: Decimal) -> None:
    position, _ = PaperPosition.objects.get_or_create(
        account=account, symbol=symbol, defaults={"qty": Decimal(0), "avg_price": price}
    )
    total = position.qty + qty
    position.avg_price = ((position.qty * position.avg_price + qty * price) / total).quantize(QUANTUM)
    position.qty = total
    position.save(update_fields=["qty", "avg_price"])


def _position_reduce(position: PaperPosition, qty: Decimal) -> None:
    """Selling keeps the average price; the realised P&L is already in the cash."""
    position.qty -= qty
    if position.qty == 0:
        position.delete()
    else:
        position.save(update_fields=["qty"])
