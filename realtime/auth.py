"""WebSocket handshake auth: the session cookie, or `Authorization: Token <key>`."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from channels.sessions import CookieMiddleware
from django.conf import settings

from accounts.authentication import token_from_header
from accounts.services import api_token_user


@database_sync_to_async
def _token_user(key: str) -> Any:
    return api_token_user(key=key)


class TokenAuthMiddleware:
    """Puts the token's user in scope when the handshake carries `Authorization: Token`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
        key = token_from_header(header)
        if key is not None:
            user = await _token_user(key)
            if user is not None:
                scope = {**scope, "user": user}
        return await self.inner(scope, receive, send)


class ReadOnlySessionMiddleware:
    """Puts the session of the handshake's cookie in scope, for the user lookup.

    Channels' own SessionMiddleware also wraps `send` to save a changed session with an HTTP
    response; on a socket that check runs for every frame and cost about a third of a quote
    frame's CPU. The socket never changes the session, so nothing is wrapped here.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        session = self.store(scope["cookies"].get(settings.SESSION_COOKIE_NAME))
        return await self.inner({**scope, "session": session}, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Refuses a foreign Origin before accept (HTTP 403).

    Browsers always send Origin on a WebSocket handshake; API clients (token auth) usually
    send none, and cannot be a cross-site attack, so a missing Origin is let through.
    """

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)


def websocket_stack(inner: Any) -> Any:
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    # Session user first; a valid token, when present, takes precedence.
    stack = CookieMiddleware(ReadOnlySessionMiddleware(AuthMiddleware(TokenAuthMiddleware(inner))))
    return BrowserOriginValidator(stack, allowed)
