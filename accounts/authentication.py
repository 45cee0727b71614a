from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.services import api_token_user


def token_from_header(value: str) -> str | None:
    """The key of an `Authorization: Token <key>` header value, or None."""
    parts = value.split()
    if len(parts) == 2 and parts[0].lower() == "token":
        return parts[1]
    return None


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <key>` against hashed personal API tokens."""

    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        # From META: `request.headers` would build a dict of every header on each request.
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.lower().startswith("token"):
            return None
        key = token_from_header(header)
        if key is None:
            raise exceptions.AuthenticationFailed("Malformed Authorization header; use `Token <key>`.")
        user = api_token_user(key=key)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return (user, None)

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
