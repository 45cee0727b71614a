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
from brokers.adapters.base import Account, AdapterContext, BrokerError
from brokers.adapters.registry import BrokerSpec
from brokers.client import adapter_build, adapter_for
from brokers.models import BalanceSnapshot, BrokerConnection, ConnectionStatus, PositionSnapshot
from brokers.vault import VaultError, credentials_destroy, credentials_store
from config.errors import ApiError

logger = logging.getLogger(__name__)

# A test or configure is a person waiting: wait briefly for a rate-limit slot, no longer.
INTERACTIVE_WAIT_SECONDS = 2.0


def credentials_clean(*, spec: BrokerSpec, raw: Mapping[str, object]) -> dict[str, str]:
    """Keep the registry's fields only, stripped; missing required ones are a 400 with fields."""
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
        raise ApiError(400, "invalid", "Some credentials are missing.", fields=errors)
    return values


def credential_hint(*, spec: BrokerSpec, credentials: Mapping[str, str]) -> str:
    """At most the last 4 characters of the key id; nothing for brokers without one."""
    value = credentials.get(spec.hint_field or "", "")
    return value[-4:] if len(value) >= 8 else ""


def broker_error_response(exc: BrokerError) -> ApiError:
    """A broker failure as the API's 429/502 error."""
    if exc.code == "rate_limited":
        retry = max(1, round(exc.retry_after or 1))
        return ApiError(429, "rate_limited", exc.message, headers={"Retry-After": str(retry)})
    code = exc.code if exc.code in {"broker_auth_failed", "broker_unavailable"} else "broker_error"
    return ApiError(502, code, exc.message)


def connection_test(*, user: User, spec: BrokerSpec, credentials: Mapping[str, str], paper: bool) -> Account:
    """Authenticate with the broker without storing anything."""
    if paper and not spec.paper_trading:
        raise ApiError(400, "invalid", f"{spec.name} has no paper trading.", fields={"paper": ["Not supported."]})
    adapter = adapter_build(
        spec=spec,
        credentials=credentials,
        paper=paper,
        context=AdapterContext(user_id=user.pk),
        wait=INTERACTIVE_WAIT_SECONDS,
    )
    try:
        return adapter.connect()
    except BrokerError as exc:
        raise broker_error_response(exc) from None
    finally:
        adapter.close()


def connection_configure(
    *, user: User, spec: BrokerSpec, credentials: Mapping[str, str], paper: bool, label: str = ""
) -> BrokerConnection:
    """Test, then store the credentials sealed and take the first balance snapshot."""
    if BrokerConnection.objects.filter(user=user, broker=spec.key).exists():
        raise ApiError(409, "already_configured", f"{spec.name} is already connected; disconnect it first.")
    account = connection_test(user=user, spec=spec, credentials=credentials, paper=paper)
    try:
        with transaction.atomic():
            connection = BrokerConnection.objects.create(
                user=user,
                broker=spec.key,
                label=label or spec.name,
                paper=paper,
                account_id=account.id,
                currency=account.currency,
                credential_hint=credential_hint(spec=spec, credentials=credentials),
                status=ConnectionStatus.CONNECTED,
                last_checked_at=timezone.now(),
            )
            credentials_store(connection=connection, values=credentials)
    except IntegrityError:  # a concurrent configure won the race
        raise ApiError(409, "already_configured", f"{spec.name} is already connected.") from None
    except VaultError:
        logger.exception("could not seal credentials for a new %s connection", spec.key)
        raise ApiError(503, "vault_unavailable", "Credentials cannot be stored safely right now; try again.") from None
    # The connection is stored either way; a failed first snapshot shows as its status.
    with contextlib.suppress(BrokerError):
        connection_refresh(connection=connection, wait=INTERACTIVE_WAIT_SECONDS)
    return connection


def connection_delete(*, connection: BrokerConnection) -> None:
    """Destroy the sealed credentials and the connection; its orders stay as history."""
    with transaction.atomic():
        credentials_destroy(connection=connection)
        connection.delete()


def _mark(connection: BrokerConnection, *, error: str = "") -> None:
    connection.last_checked_at = timezone.now()
    if error:
        connection.status = ConnectionStatus.ERROR
        connection.last_error = error[:500]
        connection.consecutive_failures += 1
    else:
        connection.status = ConnectionStatus.CONNECTED
        connection.last_error = ""
        connection.consecutive_failures = 0
    fields = ["last_checked_at", "status", "last_error", "consecutive_failures", "updated_at"]
    connection.save(update_fields=fields)


def connection_refresh(*, connection: BrokerConnection, wait: float = 0.0) -> BalanceSnapshot | None:
    """Ask the broker for balance and positions; store the snapshots and the connection's health.

    Returns the new balance snapshot, or None when the broker failed (the connection is then
    marked `error` with the broker's message, and recovers on the next success). A rate-limit
    refusal from our own limiter is not the broker's fault and leaves the status alone.
    """
    from brokers.services.portfolio import portfolio_changed

    adapter = adapter_for(connection, wait=wait)
    try:
        balance = adapter.balance()
        positions = adapter.positions()
    except BrokerError as exc:
        if exc.code != "rate_limited":
            _mark(connection, error=exc.message)
        raise
    finally:
        adapter.close()
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
        _mark(connection)
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
