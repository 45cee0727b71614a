"""Schwab's OAuth 2 authorisation server, as the Trader API's individual-developer guide describes it.

https://developer.schwab.com/products/trader-api--individual/details/documentation/Retail%20Trader%20API%20Production
(the "Three-legged OAuth" pages): `GET /v1/oauth/authorize?client_id=&redirect_uri=` ends in a redirect
to the app's callback with `code` (ending in `@`), `session` and the client's `state`; `POST /v1/oauth/token`
(form-encoded, the app authenticated with HTTP Basic app key:secret) exchanges the code
(`grant_type=authorization_code`) or a refresh token (`grant_type=refresh_token`). Access tokens last
30 minutes, refresh tokens 7 days from the user's sign-in (refreshing does not extend them). This
simulator ROTATES the refresh token on every refresh and refuses the spent one, the strictest
behaviour a client must survive. Error bodies are Schwab's `{"error", "error_description"}`.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

from tests.simulators.base import Request, Response

ACCESS_SECONDS = 30 * 60
REFRESH_SECONDS = 7 * 24 * 3600
CODE_SECONDS = 30  # Schwab's authorisation codes are short-lived


class Clock:
    """Wall time plus an offset tests can move: `sim.clock.advance(31 * 60)` expires access tokens."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


@dataclass
class Grant:
    """One user sign-in: every token refreshed from it shares its 7-day limit."""

    client_id: str
    refresh_expires_at: float


@dataclass
class OAuthState:
    apps: dict[str, str] = field(default_factory=dict)  # app key → secret
    codes: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # code → (client, redirect, expiry)
    access: dict[str, tuple[str, float]] = field(default_factory=dict)  # token → (client, expiry)
    refresh: dict[str, Grant] = field(default_factory=dict)  # live refresh token → its grant
    spent_refresh: set[str] = field(default_factory=set)


def oauth_error(status: int, error: str, description: str) -> Response:
    return Response(status, {"error": error, "error_description": description})


class OAuthServer:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.state = OAuthState()
        self.refreshes = 0  # how many refresh grants were honoured, for assertions

    def register_app(self, app_key: str, app_secret: str) -> None:
        self.state.apps[app_key] = app_secret

    # -- endpoints ----------------------------------------------------------------------------

    def authorize(self, request: Request) -> Response:
        """The user signs in and approves at once; Schwab redirects to the callback with the code."""
        client_id, redirect_uri = request.arg("client_id"), request.arg("redirect_uri")
        if not client_id or client_id not in self.state.apps or not redirect_uri:
            return oauth_error(400, "invalid_client", "Unknown client_id or missing redirect_uri.")
        code = f"C0.{secrets.token_urlsafe(24)}@"
        self.state.codes[code] = (client_id, redirect_uri, self.clock.now() + CODE_SECONDS)
        params = {"code": code, "session": str(uuid.uuid4())}
        if state := request.arg("state"):
            params["state"] = state
        separator = "&" if "?" in redirect_uri else "?"
        return Response(302, b"", {"Location": f"{redirect_uri}{separator}{urlencode(params)}"})

    def token(self, request: Request) -> Response:
        client_id = self._client(request)
        if client_id is None:
            return oauth_error(401, "invalid_client", "Unauthorized")
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange(client_id, form)
        if grant_type == "refresh_token":
            return self._refresh(client_id, form.get("refresh_token", ""))
        return oauth_error(400, "unsupported_grant_type", f"Unsupported grant_type {grant_type!r}.")

    def bearer_client(self, request: Request) -> str | None:
        """The app a live access token in `Authorization: Bearer` belongs to, or None."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        found = self.state.access.get(token) if scheme.lower() == "bearer" else None
        if found is None or found[1] <= self.clock.now():
            return None
        return found[0]

    # -- internals ----------------------------------------------------------------------------

    def _client(self, request: Request) -> str | None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            key, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        expected = self.state.apps.get(key)
        return key if expected is not None and secrets.compare_digest(expected, secret) else None

    def _exchange(self, client_id: str, form: dict[str, str]) -> Response:
        found = self.state.codes.pop(form.get("code", ""), None)  # a code is good for one exchange
        if found is None or found[0] != client_id or found[2] <= self.clock.now():
            # Schwab wraps its authorisation server's answer in another error, as here.
            return oauth_error(
                400,
                "unsupported_token_type",
                '400 Bad Request: "{"error_description":"Bad authorization code: AuthorizationCode not found",'
                '"error":"invalid_request"}"',
            )
        if form.get("redirect_uri") != found[1]:
            return oauth_error(400, "invalid_request", "redirect_uri does not match the authorization request.")
        return self._issue(Grant(client_id, self.clock.now() + REFRESH_SECONDS))

    def _refresh(self, client_id: str, refresh_token: str) -> Response:
        grant = self.state.refresh.get(refresh_token)
        if grant is None or grant.client_id != client_id or grant.refresh_expires_at <= self.clock.now():
            return oauth_error(400, "refresh_token_authentication_error", "Failed refresh token authentication")
        del self.state.refresh[refresh_token]  # rotated: the old one is refused from now on
        self.state.spent_refresh.add(refresh_token)
        self.refreshes += 1
        return self._issue(grant)

    def _issue(self, grant: Grant) -> Response:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.state.access[access] = (grant.client_id, self.clock.now() + ACCESS_SECONDS)
        self.state.refresh[refresh] = grant
        body = {
            "expires_in": ACCESS_SECONDS,
            "token_type": "Bearer",
            "scope": "api",
            "refresh_token": refresh,
            "access_token": access,
            "id_token": secrets.token_urlsafe(48),
        }
        return Response(200, body)
