"""Writes for accounts: tiers and API tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from accounts.models import ApiToken, Tier, User, hash_token_key
from accounts.token_cache import token_cache_forget, token_cached

TOKEN_PREFIX = "tw_"  # noqa: S105 - a label, not a secret


class AccountError(ValueError):
    """Bad input to an account service; the message is safe to show."""


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    key: str  # the only time the plaintext key exists


def user_get_by_email(*, email: str) -> User:
    try:
        return User.objects.get(email__iexact=email.strip())
    except User.DoesNotExist:
        raise AccountError(f"No user with email {email!r}.") from None


def user_set_tier(*, user: User, tier: str) -> User:
    if tier not in Tier.values:
        raise AccountError(f"Unknown tier {tier!r}; choose one of: {', '.join(Tier.values)}.")
    user.tier = tier
    user.save(update_fields=["tier"])
    return user


def api_token_create(*, user: User, name: str = "", expires_in_days: int | None = None) -> IssuedToken:
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    token = ApiToken.objects.create(
        user=user, name=name[:100], prefix=key[:10], key_hash=hash_token_key(key), expires_at=expires_at
    )
    return IssuedToken(token=token, key=key)


def api_token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def api_token_user(*, key: str) -> User | None:
    """The active user a presented key belongs to, or None."""
    key_hash = hash_token_key(key)
    token = token_cached(key_hash=key_hash)
    if token is None or not token.is_active:
        return None
    user = token.user()
    if not user.is_active:
        return None
    now = timezone.now()
    # Touch at most once a minute so an API client does not turn every read into a write.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.id).update(last_used_at=now)
        token_cache_forget(key_hashes=[key_hash])  # an update sends no signal
    return user
