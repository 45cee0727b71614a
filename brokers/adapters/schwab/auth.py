"""Schwab's OAuth and the one factory of schwab-py clients (used in production and in tests alike).

schwab-py hard-codes `https://api.schwabapi.com` and its convenience constructors build their own
sessions and write tokens to files, so the app builds the session itself: an Authlib `OAuth2Client`
whose `token_endpoint` is `{SCHWAB_API_URL}/v1/oauth/token`, whose httpx transport sends the SDK's
requests to `SCHWAB_API_URL`, and whose `update_token` hands refreshed tokens to `TokenKeeper`,
which saves them through the vault (`AdapterContext.credentials_update`).

The stored `token` credential is schwab-py's own token format: `{"creation_timestamp": <when the
user signed in>, "token": {access_token, refresh_token, expires_at, ...}}`. Access tokens last 30
minutes; the refresh token 7 days from the sign-in, after which the user must authorise again.

Why refreshing happens under the connection's row lock: Schwab may rotate the refresh token on
every refresh, so two workers refreshing with the same one would spend it twice and one of them
would end up with a refused token. `TokenKeeper.refresh` runs inside `credentials_update`: it reads
the stored token first and, when another worker already refreshed, adopts that newer token instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from django.conf import settings
from schwab.auth import TokenMetadata
from schwab.client import Client

from brokers.adapters.base import AuthenticationFailed, BrokerUnavailable, CredentialsUpdate, RateLimited
from brokers.adapters.schwab.errors import NOT_AUTHORISED, TRANSLATOR

REAL_API_URL = "https://api.schwabapi.com"
SDK_HOST = "api.schwabapi.com"  # what schwab-py puts in every URL
REFRESH_LIFETIME = timedelta(days=7)
# Refresh this long before the access token runs out (schwab-py's own margin); Authlib's check,
# inside the request, uses a shorter one, so ours, under the lock, always comes first.
LEEWAY_SECONDS = 300
AUTHLIB_LEEWAY_SECONDS = 60


def api_url() -> str:
    """The API's base URL: `SCHWAB_API_URL`, or Schwab's own when that is empty."""
    return (settings.SCHWAB_API_URL or REAL_API_URL).rstrip("/")


def token_endpoint() -> str:
    return f"{api_url()}/v1/oauth/token"


def authorize_url(*, app_key: str, redirect_uri: str, state: str) -> str:
    """Where to send the user to approve the app; Schwab redirects back with `code` and `state`."""
    query = urlencode({"response_type": "code", "client_id": app_key, "redirect_uri": redirect_uri, "state": state})
    return f"{api_url()}/v1/oauth/authorize?{query}"


class RetargetTransport(httpx.HTTPTransport):
    """Sends requests for api.schwabapi.com (schwab-py's fixed host) to the configured base URL."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base = httpx.URL(base_url)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == SDK_HOST and self.base.host != SDK_HOST:
            prefix = self.base.raw_path.rstrip(b"/")
            request.url = request.url.copy_with(
                scheme=self.base.scheme,
                host=self.base.host,
                port=self.base.port,
                raw_path=prefix + request.url.raw_path,
            )
            request.headers["Host"] = self.base.netloc.decode("ascii")
        return super().handle_request(request)


# --- the stored token ------------------------------------------------------------------------


def token_wrap(token: Mapping[str, Any], *, created: int) -> str:
    """The `token` credential for a freshly issued token (schwab-py's token-file format)."""
    return json.dumps({"creation_timestamp": created, "token": dict(token)})


def token_unwrap(text: str | None) -> dict[str, Any] | None:
    """The stored token, or None when there is none (not authorised yet) or it is unreadable."""
    try:
        wrapped = json.loads(text or "null")
    except ValueError:
        return None
    if not isinstance(wrapped, dict) or not isinstance(wrapped.get("token"), dict):
        return None
    return wrapped if "creation_timestamp" in wrapped else None


def refresh_expires_at(text: str | None) -> datetime | None:
    """When the refresh token in a stored `token` runs out: 7 days after the sign-in."""
    wrapped = token_unwrap(text)
    if wrapped is None:
        return None
    return datetime.fromtimestamp(int(wrapped["creation_timestamp"]), tz=UTC) + REFRESH_LIFETIME


def _expired(token: Mapping[str, Any], leeway: float = LEEWAY_SECONDS) -> bool:
    expires_at = token.get("expires_at")
    return isinstance(expires_at, int | float) and expires_at - leeway < time.time()


def _check_token_response(response: httpx.Response) -> httpx.Response:
    """Authlib reads any JSON object as a token: throttling and outages must not become one."""
    if response.status_code == 429:
        retry = response.headers.get("Retry-After", "")
        raise RateLimited("Schwab is throttling token requests.", retry_after=float(retry) if retry.isdigit() else 5.0)
    if response.status_code >= 500:
        raise BrokerUnavailable(f"Schwab's token endpoint failed (HTTP {response.status_code}); try again.")
    return response


def _session(app_key: str, app_secret: str, *, timeout: float, **kwargs: Any) -> OAuth2Client:
    session = OAuth2Client(
        app_key,
        client_secret=app_secret,  # sent as HTTP Basic app key:secret (client_secret_basic)
        token_endpoint=token_endpoint(),
        leeway=AUTHLIB_LEEWAY_SECONDS,
        transport=RetargetTransport(api_url()),
        timeout=timeout,
        **kwargs,
    )
    for hook in ("access_token_response", "refresh_token_response"):
        session.register_compliance_hook(hook, _check_token_response)
    return session


@TRANSLATOR.edge
def token_exchange(*, app_key: str, app_secret: str, code: str, redirect_uri: str, timeout: float) -> str:
    """Exchange an authorisation code for tokens; returns the `token` credential to store."""
    with _session(app_key, app_secret, timeout=timeout, redirect_uri=redirect_uri) as session:
        token = session.fetch_token(grant_type="authorization_code", code=code, redirect_uri=redirect_uri)
    return token_wrap(token, created=int(time.time()))


# --- refreshing ------------------------------------------------------------------------------


class TokenKeeper:
    """The connection's token: refreshed under the connection's row lock, saved through the vault."""

    def __init__(
        self, wrapped: dict[str, Any], update: CredentialsUpdate | None, *, session: Callable[..., OAuth2Client]
    ) -> None:
        self.update = update
        self._locked = False
        self._pending: dict[str, Any] | None = None
        # schwab-py's metadata wraps each refreshed token and calls `_write` with it.
        self.metadata = TokenMetadata.from_loaded_token(wrapped, self._write)
        self.session = session(token=self.metadata.token, update_token=self.metadata.wrapped_token_write_func())

    @property
    def access_token(self) -> str:
        return str(self.session.token.get("access_token", ""))

    def ensure_fresh(self) -> None:
        """Before a call: refresh (or adopt another worker's refresh) when the access token is running out."""
        if _expired(self.session.token):
            self.refresh()

    def refresh(self) -> None:
        """Replace the access token now (also after Schwab answered 401 to it)."""
        if self.update is None:  # nothing stored to coordinate with (a connection test)
            self._refresh_now()
            return
        self.update(self._locked_refresh(stale=self.access_token))

    def _locked_refresh(self, *, stale: str) -> Callable[[dict[str, str]], dict[str, str] | None]:
        def change(stored: dict[str, str]) -> dict[str, str] | None:
            newer = token_unwrap(stored.get("token"))
            if newer is not None and newer["token"].get("access_token") != stale:
                self._adopt(newer)  # another worker refreshed first: its token is the live one
                if not _expired(newer["token"]):
                    return None
            self._locked = True
            try:
                self._refresh_now()
            finally:
                self._locked = False
            pending, self._pending = self._pending, None
            return {"token": json.dumps(pending)} if pending else None

        return change

    def _refresh_now(self) -> None:
        self.session.refresh_token(token_endpoint())

    def _adopt(self, wrapped: dict[str, Any]) -> None:
        self.session.token = wrapped["token"]
        self.metadata.token = wrapped["token"]
        self.metadata.creation_timestamp = wrapped["creation_timestamp"]

    def _write(self, wrapped: dict[str, Any], *args: Any, refresh_token: str | None = None, **kwargs: Any) -> None:
        """schwab-py's token writer: Authlib calls it (through `update_token`) after every refresh."""
        if self._locked:
            self._pending = wrapped  # saved by the locked update that asked for the refresh
        elif self.update is not None:  # Authlib refreshed on its own: save unless a newer one is stored
            self.update(lambda stored: _unless_newer(stored, wrapped, spent=refresh_token))


def _unless_newer(stored: dict[str, str], wrapped: dict[str, Any], *, spent: str | None) -> dict[str, str] | None:
    current = token_unwrap(stored.get("token"))
    if current is not None and current["token"].get("refresh_token") != spent:
        return None
    return {"token": json.dumps(wrapped)}


def client_build(
    credentials: Mapping[str, str], *, update: CredentialsUpdate | None, timeout: float
) -> tuple[Client, TokenKeeper]:
    """A schwab-py `Client` over our session, and the keeper of its token; AuthenticationFailed if there is none."""
    wrapped = token_unwrap(credentials.get("token"))
    if wrapped is None:
        raise AuthenticationFailed(NOT_AUTHORISED)
    app_key, app_secret = credentials.get("app_key", ""), credentials.get("app_secret", "")
    keeper = TokenKeeper(
        wrapped, update, session=lambda **token: _session(app_key, app_secret, timeout=timeout, **token)
    )
    client = Client(app_key, keeper.session, token_metadata=keeper.metadata)
    client.set_timeout(timeout)  # Client() sets 30 s on the session; ours is the capability's budget
    return client, keeper
