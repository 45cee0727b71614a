"""Authorising a broker connection with the OAuth authorisation-code flow, inside the web app (Schwab).

1. `oauth_authorize_url`: after `connection_configure` stored the app key and secret, the user is
   sent to the broker's authorise page with a random `state` kept in their Django session and
   bound to the connection.
2. The broker redirects the browser to our callback (`brokers.oauth_views`) with `code` and
   `state`; `oauth_complete` refuses a state this session did not start, exchanges the code
   (HTTP Basic app key:secret), stores the token through the vault and marks the connection connected.
3. The refresh token lasts 7 days: `token_expires_at` says until when, `oauth_refresh_expiring`
   turns connections near that point `pending_authorization` so the pages ask to authorise again.

The broker's own OAuth details live in its adapter package, imported only when used.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import datetime, timedelta
from importlib import import_module
from types import ModuleType
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone

from brokers.adapters.base import AdapterContext, BrokerError
from brokers.adapters.registry import build_adapter, get_spec
from brokers.models import BrokerConnection, ConnectionStatus
from brokers.vault import credentials_load, credentials_rotate
from config.domain import InvalidInput, NotFound

SESSION_KEY = "broker_oauth_states"  # state → connection id, for sign-ins started in this session
MAX_PENDING = 5
# Brokers that authorise with OAuth, and the module of their adapter that speaks it.
PROVIDERS = {"schwab": "brokers.adapters.schwab.auth"}
EXPIRY_WARNING = timedelta(days=1)
STATE_MISMATCH = (
    "This authorisation does not match a sign-in started from your session (it may have expired or "
    "been started elsewhere). Nothing was changed; start again from the brokers page."
)


def _provider(broker: str) -> ModuleType:
    if broker not in PROVIDERS:
        raise InvalidInput(f"{get_spec(broker).name} does not authorise with OAuth.")
    return import_module(PROVIDERS[broker])


def oauth_authorize_url(*, session: SessionBase, connection: BrokerConnection, callback_url: str) -> str:
    """The broker's authorise URL for `connection`, with a fresh `state` remembered in `session`.

    `callback_url` must be the redirect URL registered with the broker's app (our
    `/brokers/oauth/callback`); the same one is passed to `oauth_complete`.
    """
    provider = _provider(connection.broker)
    app_key = credentials_load(connection=connection).get("app_key", "")
    state = secrets.token_urlsafe(32)
    pending: dict[str, int] = dict(session.get(SESSION_KEY) or {})
    pending[state] = connection.pk
    while len(pending) > MAX_PENDING:  # a few tabs at once; the oldest sign-ins are forgotten
        pending.pop(next(iter(pending)))
    session[SESSION_KEY] = pending
    url: str = provider.authorize_url(app_key=app_key, redirect_uri=callback_url, state=state)
    return url


def oauth_complete(*, session: SessionBase, user: Any, state: str, code: str, callback_url: str) -> BrokerConnection:
    """Finish the sign-in the broker redirected back from; returns the connection, now connected.

    Raises InvalidInput for a missing or foreign `state` (nothing changes: no exchange, no write)
    or a missing code, NotFound when the connection is gone, and the broker's error when it refuses
    the code (AuthenticationFailed) or cannot be reached (BrokerUnavailable).
    """
    connection_id = (session.get(SESSION_KEY) or {}).get(state) if state else None
    if connection_id is None:
        raise InvalidInput(STATE_MISMATCH, fields={"state": ["Does not match this session."]})
    connection = BrokerConnection.objects.filter(pk=connection_id, user=user).first()
    if connection is None:
        raise NotFound("That connection no longer exists; connect the broker again.")
    if not code:
        raise InvalidInput("The broker sent no authorisation code.", fields={"code": ["Missing."]})
    provider = _provider(connection.broker)
    credentials = credentials_load(connection=connection)
    token: str = provider.token_exchange(
        app_key=credentials.get("app_key", ""),
        app_secret=credentials.get("app_secret", ""),
        code=code,
        redirect_uri=callback_url,
        timeout=settings.BROKER_TIMEOUT_SECONDS,
    )
    credentials_rotate(lambda stored: {"token": token}, connection_id=connection.pk)
    account = build_adapter(
        connection.broker,
        {**credentials, "token": token},
        paper=connection.paper,
        context=AdapterContext(user_id=connection.user_id, connection_id=connection.pk),
    ).connect()
    _connected(connection, account_id=account.id, currency=account.currency, expires=provider.refresh_expires_at(token))
    pending = dict(session.get(SESSION_KEY) or {})
    pending.pop(state, None)  # a state is good for one sign-in
    session[SESSION_KEY] = pending
    _first_snapshot(connection)
    return connection


def _first_snapshot(connection: BrokerConnection) -> None:
    """What `connection_configure` does for other brokers: the balance at once (a failure shows as the status)."""
    from brokers.services.connections import INTERACTIVE_WAIT_SECONDS, connection_refresh

    with contextlib.suppress(BrokerError):
        connection_refresh(connection=connection, wait=INTERACTIVE_WAIT_SECONDS)


def _connected(connection: BrokerConnection, *, account_id: str, currency: str, expires: datetime | None) -> None:
    now = timezone.now()
    connection.status = ConnectionStatus.CONNECTED
    connection.account_id, connection.currency = account_id, currency
    connection.last_error, connection.consecutive_failures = "", 0
    connection.last_checked_at = connection.last_success_at = now
    connection.failing_since = None
    connection.auth_expires_at = expires
    fields = ["status", "account_id", "currency", "last_error", "consecutive_failures", "last_checked_at"]
    connection.save(update_fields=[*fields, "last_success_at", "failing_since", "auth_expires_at", "updated_at"])


def token_expires_at(connection: BrokerConnection) -> datetime | None:
    """When the connection's authorisation (its refresh token) runs out; None if it has none."""
    if connection.broker not in PROVIDERS:
        return None
    expires: datetime | None = _provider(connection.broker).refresh_expires_at(
        credentials_load(connection=connection).get("token")
    )
    return expires


def oauth_refresh_expiring(*, within: timedelta = EXPIRY_WARNING, now: datetime | None = None) -> list[int]:
    """Turn connected OAuth connections whose authorisation ends within `within` `pending_authorization`.

    Returns the ids of the connections it changed, for the caller to notify (`portfolio:update`).
    Also records each connection's `auth_expires_at`, which the brokers page shows.
    """
    now = now or timezone.now()
    changed = []
    for connection in BrokerConnection.objects.filter(broker__in=PROVIDERS, status=ConnectionStatus.CONNECTED):
        expires = token_expires_at(connection)
        connection.auth_expires_at = expires
        fields = ["auth_expires_at", "updated_at"]
        if expires is None or expires - now <= within:
            connection.status = ConnectionStatus.PENDING_AUTHORIZATION
            connection.last_error = _expiry_message(connection, expires, now)
            fields += ["status", "last_error"]
            changed.append(connection.pk)
        connection.save(update_fields=fields)
    return changed


def _expiry_message(connection: BrokerConnection, expires: datetime | None, now: datetime) -> str:
    name = get_spec(connection.broker).short_name or get_spec(connection.broker).name
    if expires is None or expires <= now:
        return f"The {name} authorisation has ended; authorise again from the brokers page."
    return f"The {name} authorisation ends at {expires:%Y-%m-%d %H:%M} UTC; authorise again from the brokers page."
