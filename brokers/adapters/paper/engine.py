"""The paper broker's matching engine: accounts, order placement, cancels and the matching pass.

Every change runs in one transaction that first locks the account row, so the books stay
consistent across web processes, workers and beat (on SQLite the IMMEDIATE transactions
serialise writers instead). Market time is always passed in, which lets tests move the clock.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from brokers.adapters.base import (
    BrokerError,
    InsufficientFunds,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderStatus,
    Quote,
    TimeInForce,
)
from brokers.adapters.paper import books, rules
from brokers.adapters.paper.market import market_quote, market_quotes
from brokers.adapters.paper.universe import validate_symbol
from brokers.models import PaperAccount, PaperOrder

STARTING_CASH = Decimal("100000.00")
_IMMEDIATE_ONLY = (TimeInForce.IOC, TimeInForce.FOK)
_REFUSALS = (InsufficientFunds, OrderRejected)


def account_ensure(user_id: int) -> PaperAccount:
    """The user's paper account, opened with 100,000 USD on first use (race-safe on the unique id)."""
    account, _ = PaperAccount.objects.get_or_create(
        account_id=f"paper-{user_id}", defaults={"user_id": user_id, "cash": STARTING_CASH}
    )
    return account


def bracket_parent_id(client_order_id: str) -> str | None:
    """For a bracket leg's client id (`<parent id>:tp` / `:sl`), the parent's broker_order_id."""
    parent, _, tag = client_order_id.rpartition(":")
    return parent if tag in ("tp", "sl") and _is_uuid(parent) else None


def order_place(
    *, account: PaperAccount, request: OrderRequest, now: datetime
) -> tuple[OrderState, BrokerError | None]:
    """Record and work a new order; idempotent on `request.client_order_id` within the account.

    Returns the order's state and, when the broker refused it (recorded as rejected), the
    error to raise once the transaction has committed. A repeated client id returns the first
    order's current state and no error. Raises InvalidSymbol without recording anything.
    """
    symbol = validate_symbol(request.symbol)
    try:
        with transaction.atomic():
            return _place_locked(account.pk, request, symbol, now)
    except IntegrityError:
        # A concurrent call with the same client id won the unique constraint: report its order.
        existing = _by_client_id(account.pk, request.client_order_id)
        if existing is None:
            raise
        return books.order_state(existing), None


def order_cancel(*, account: PaperAccount, broker_order_id: str) -> OrderState:
    """Cancel an open order (and its held bracket legs); a closed one is returned as it is.

    Raises OrderNotFound for an id outside this account, OrderRejected for a filled order.
    """
    with transaction.atomic():
        _lock(account.pk)
        order = order_get(account=account, broker_order_id=broker_order_id)
        if order.status == OrderStatus.FILLED:
            raise OrderRejected("already filled")
        if order.status in books.OPEN:
            books.close(order, OrderStatus.CANCELED, "canceled by the user")
        return books.order_state(order)


def order_get(*, account: PaperAccount, broker_order_id: str) -> PaperOrder:
    order = None
    if _is_uuid(broker_order_id):
        order = PaperOrder.objects.filter(account=account, pk=broker_order_id).first()
    if order is None:
        raise OrderNotFound(f"No paper order {broker_order_id!r} in this account.")
    return order


def match_open_orders(now: datetime | None = None) -> dict[int, list[OrderState]]:
    """Work every resting paper order, in every account, against the market at `now`.

    Fills marketable limits, fires stops (stop-limits become limits), releases bracket legs
    and cancels OCO siblings; a fill the cash or position no longer covers is rejected.
    Returns the state of every order that changed (bracket legs included), by the account's user id.
    Safe to run from several processes at once: each account is worked under its row lock.
    """
    now = now or timezone.now()
    working = list(PaperOrder.objects.filter(status=books.WORKING).order_by("created_at"))
    quotes = market_quotes({order.symbol for order in working}, now)
    # Decide without locks first, so a quiet book costs one read and no write transaction.
    due = [o for o in working if o.symbol in quotes and rules.step(o, quotes[o.symbol], resting=True)]
    by_account: dict[int, list[uuid.UUID]] = {}
    for order in due:
        by_account.setdefault(order.account_id, []).append(order.pk)
    users = dict(PaperAccount.objects.filter(pk__in=by_account).values_list("pk", "user_id"))
    changes: dict[int, list[OrderState]] = {}
    for account_id, pks in by_account.items():
        changed = _match_account(account_id, pks, quotes)
        if changed:
            changes.setdefault(users[account_id], []).extend(books.order_state(order) for order in changed)
    return changes


# --- inside the account lock ---------------------------------------------------------------


def _lock(account_pk: int) -> PaperAccount:
    return PaperAccount.objects.select_for_update().get(pk=account_pk)


def _place_locked(
    account_pk: int, request: OrderRequest, symbol: str, now: datetime
) -> tuple[OrderState, BrokerError | None]:
    account = _lock(account_pk)
    existing = _by_client_id(account_pk, request.client_order_id)
    if existing is not None:
        return books.order_state(existing), None
    order = PaperOrder.objects.create(
        account=account,
        client_order_id=request.client_order_id,
        symbol=symbol,
        side=request.side,
        type=request.type,
        qty=request.qty,
        limit_price=request.limit_price,
        stop_price=request.stop_price,
        time_in_force=request.time_in_force,
        status=books.WORKING,
    )
    error = _admit(account, order, request, market_quote(symbol, now))
    return books.order_state(order), error


def _admit(account: PaperAccount, order: PaperOrder, request: OrderRequest, quote: Quote) -> BrokerError | None:
    """Vet a new order, then fill it if it is marketable now (as a taker) or leave it resting."""
    try:
        problem = rules.request_problem(request)
        if problem:
            raise OrderRejected(problem)
        books.placement_check(account, request, order.symbol, quote)
        books.legs_create(order, request)
        _work(account, order, quote, resting=False)
    except _REFUSALS as error:
        books.close(order, OrderStatus.REJECTED, error.message)
        return error
    if order.status == books.WORKING and request.time_in_force in _IMMEDIATE_ONLY:
        books.close(order, OrderStatus.CANCELED, f"{request.time_in_force}: not immediately fillable")
    return None


def _work(account: PaperAccount, order: PaperOrder, quote: Quote, *, resting: bool) -> list[PaperOrder]:
    step = rules.step(order, quote, resting=resting)
    if step is None:
        return []
    if step.fill_price is None:
        return books.trigger(order)
    return books.fill(account, order, step.fill_price, step.liquidity)


def _match_account(account_pk: int, order_pks: list[uuid.UUID], quotes: dict[str, Quote]) -> list[PaperOrder]:
    with transaction.atomic():
        account = _lock(account_pk)
        changed: list[PaperOrder] = []
        # Re-read under the lock: another process may have filled or canceled these meanwhile.
        for order in PaperOrder.objects.filter(pk__in=order_pks, status=books.WORKING).order_by("created_at"):
            if any(order.pk == done.pk for done in changed):
                continue  # an OCO sibling this pass already canceled
            changed += _match_one(account, order, quotes[order.symbol])
        return changed


def _match_one(account: PaperAccount, order: PaperOrder, quote: Quote) -> list[PaperOrder]:
    try:
        return _work(account, order, quote, resting=True)
    except _REFUSALS as error:
        return books.close(order, OrderStatus.REJECTED, f"at fill time: {error.message}")


def _by_client_id(account_pk: int, client_order_id: str) -> PaperOrder | None:
    return PaperOrder.objects.filter(account_id=account_pk, client_order_id=client_order_id).first()


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
