"""Connecting, testing, refreshing and removing a user's broker accounts."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from brokers.adapters.base import Account, AuthenticationFailed, BrokerError, RateLimited
from brokers.adapters.registry import BrokerSpec, get_spec
from brokers.models import BalanceSnapshot, BrokerConnection, ConnectionStatus, PositionSnapshot
from brokers.sessions import DEFAULT_WAIT_SECONDS, adapter_session_unsaved, broker_session
from brokers.vault import VaultError, credentials_destroy, credentials_store
from config.domain import Conflict, InvalidInput, Unavailable

logger = logging.getLogger(__name__)

# A test or configure is a person waiting: wait briefly for a rate-limit slot, no longer.
INTERACTIVE_WAIT_SECONDS = 2.0


def credentials_clean(*, spec: BrokerSpec, raw: Mapping[str, object]) -> dict[str, str]:
    """Keep the registry's fields only, stripped; missing required ones are InvalidInput naming each."""
    values: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for field in spec.credential_fields:
        value = raw.get(field.name, field.default)
        value = str(value).strip() if value is not None else ""
        if not value and field.required:
            errors[f"credentials.{field.name}"] = [f"{field.label} is required."]
        elif value:
            values[field.name] = value
    if errors:
        raise InvalidInput("Some credentials are missing.", fields=errors)
    return values


def credential_hint(*, spec: BrokerSpec, credentials: Mapping[str, str]) -> str:
    """At most the last 4 characters of the key id; nothing for brokers without one."""
    value = credentials.get(spec.hint_field or "", "")
    return value[-4:] if len(value) >= 8 else ""


def connection_test(*, user: User, spec: BrokerSpec, credentials: Mapping[str, str], paper: bool) -> Account:
    """Authenticate with the broker without storing anything; raises the broker's BrokerError."""
    if paper and not spec.capabilities.paper_trading:
        raise InvalidInput.field("paper", "Not supported.", summary=f"{spec.name} has no paper trading.")
    with adapter_session_unsaved(
        spec=spec, credentials=credentials, paper=paper, user_id=user.pk, wait=INTERACTIVE_WAIT_SECONDS
    ) as adapter:
        account: Account = adapter.connect()
    return account


def connection_configure(
    *, user: User, spec: BrokerSpec, credentials: Mapping[str, str], paper: bool, label: str = ""
) -> BrokerConnection:
    """Test, then store the credentials sealed and take the first balance snapshot.

    An OAuth broker cannot be tested before the user has authorised us: its app credentials are
    stored and the connection waits `pending_authorization` for the OAuth callback
    (brokers.services.oauth), which tests it and takes the first snapshot.
    """
    if BrokerConnection.objects.filter(user=user, broker=spec.key).exists():
        raise Conflict(f"{spec.name} is already connected; disconnect it first.", code="already_configured")
    if spec.auth == "oauth":
        if paper and not spec.capabilities.paper_trading:
            raise InvalidInput.field("paper", "Not supported.", summary=f"{spec.name} has no paper trading.")
        fields = {"status": ConnectionStatus.PENDING_AUTHORIZATION}
        return _connection_store(user=user, spec=spec, credentials=credentials, paper=paper, label=label, **fields)
    account = connection_test(user=user, spec=spec, credentials=credentials, paper=paper)
    fields = {"account_id": account.id, "currency": account.currency, "status": ConnectionStatus.CONNECTED}
    connection = _connection_store(user=user, spec=spec, credentials=credentials, paper=paper, label=label, **fields)
    # The connection is stored either way; a failed first snapshot shows as its status.
    with contextlib.suppress(BrokerError):
        connection_refresh(connection=connection, wait=INTERACTIVE_WAIT_SECONDS)
    return connection


def _connection_store(
    *, user: User, spec: BrokerSpec, credentials: Mapping[str, str], paper: bool, label: str, **fields: object
) -> BrokerConnection:
    try:
        with transaction.atomic():
            connection = BrokerConnection.objects.create(
                user=user,
                broker=spec.key,
                label=label or spec.name,
                paper=paper,
                credential_hint=credential_hint(spec=spec, credentials=credentials),
                last_checked_at=timezone.now(),
                **fields,
            )
            credentials_store(connection=connection, values=credentials)
    except IntegrityError:  # a concurrent configure won the race
        raise Conflict(f"{spec.name} is already connected.", code="already_configured") from None
    except VaultError:
        logger.exception("could not seal credentials for a new %s connection", spec.key)
        message = "Credentials cannot be stored safely right now; try again."
        raise Unavailable(message, code="vault_unavailable") from None
    return connection


def connection_delete(*, connection: BrokerConnection) -> None:
    """Destroy the sealed credentials and the connection; its orders stay as history."""
    with transaction.atomic():
        credentials_destroy(connection=connection)
        connection.delete()


def connection_health_mark(connection: BrokerConnection, *, error: str = "", reauthorize: bool = False) -> None:
    """Record the outcome of a call to the broker: health for the brokers page, `error` status on failure.

    `reauthorize`: the broker refused our authorisation (an OAuth login that ended), so the
    connection waits `pending_authorization` for the user instead. A connection whose status
    changes pushes `portfolio:update` at once, so every open page shows it.
    """
    from brokers.services.portfolio import portfolio_changed

    now = timezone.now()
    status_before = connection.status
    connection.last_checked_at = now
    if error:
        connection.status = ConnectionStatus.PENDING_AUTHORIZATION if reauthorize else ConnectionStatus.ERROR
        connection.last_error = error[:500]
        connection.consecutive_failures += 1
        connection.failing_since = connection.failing_since or now
    else:
        connection.status = ConnectionStatus.CONNECTED
        connection.last_error = ""
        connection.consecutive_failures = 0
        connection.last_success_at, connection.failing_since = now, None
    fields = ["last_checked_at", "status", "last_error", "consecutive_failures", "last_success_at", "failing_since"]
    connection.save(update_fields=[*fields, "updated_at"])
    if connection.status != status_before:
        portfolio_changed(user_id=connection.user_id)


def connection_refresh(*, connection: BrokerConnection, wait: float = DEFAULT_WAIT_SECONDS) -> BalanceSnapshot | None:
    """Ask the broker for balance and positions; store the snapshots and the connection's health.

    Returns the new balance snapshot, or None when the broker failed (the connection is then
    marked `error` with the broker's message, and recovers on the next success). A rate-limit
    refusal from our own limiter is not the broker's fault and leaves the status alone.
    """
    from brokers.services.portfolio import portfolio_changed

    try:
        with broker_session(connection, wait=wait) as adapter:
            balance = adapter.balance()
            positions = adapter.positions()
    except BrokerError as exc:
        if not isinstance(exc, RateLimited):
            oauth = get_spec(connection.broker).auth == "oauth"
            connection_health_mark(
                connection, error=exc.message, reauthorize=oauth and isinstance(exc, AuthenticationFailed)
            )
        raise
    now = timezone.now()
    with transaction.atomic():
        snapshot = BalanceSnapshot.objects.create(
            connection=connection,
            currency=balance.currency,
            cash=balance.cash,
            equity=balance.equity,
            buying_power=balance.buying_power,
            as_of=now,
        )
        PositionSnapshot.objects.filter(connection=connection).delete()
        PositionSnapshot.objects.bulk_create(
            PositionSnapshot(connection=connection, as_of=now, **_position_fields(p)) for p in positions
        )
        if balance.currency and balance.currency != connection.currency:  # the broker says so: believe it
            connection.currency = balance.currency
            connection.save(update_fields=["currency", "updated_at"])
        connection_health_mark(connection)
        portfolio_changed(user_id=connection.user_id)
    return snapshot


def _position_fields(position: object) -> dict[str, object]:
    names = ("symbol", "qty", "avg_price", "market_price", "market_value", "unrealized_pnl")
    return {name: getattr(position, name) for name in names}


def snapshot_stale_at(*, as_of: datetime) -> datetime:
    """When a snapshot taken at `as_of` turns stale: two poll intervals later (the contract)."""
    return as_of + timedelta(seconds=2 * settings.BALANCE_POLL_SECONDS)


def snapshot_is_stale(*, as_of: datetime) -> bool:
    return timezone.now() > snapshot_stale_at(as_of=as_of)
