"""API tokens by key hash in the near cache (config/nearcache.py), so authenticating an API
request costs no database query and, once a process has seen the token, no Redis round trip.

Saving or deleting a token or its user drops its entries in every process (signals, so the
admin and every service are covered); so does touching `last_used_at`. Only the fields below
are cached, never the password hash; the rebuilt user loads any other field from the database
if something asks for it.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any, NamedTuple

from django.db.models.signals import post_delete, post_save

from accounts.models import ApiToken, User, token_is_active
from config.nearcache import near_cached, near_forget_on_commit

TTL_SECONDS = 60

# What authenticating with a token needs of it: never its hash or name, never the password hash.
TOKEN_FIELDS = ("id", "expires_at", "last_used_at", "revoked_at")
USER_FIELDS = tuple(
    f.attname
    for f in User._meta.concrete_fields  # in model order, as Model.from_db takes a partial row
    if f.attname in {"id", "email", "tier", "is_active", "is_staff", "is_superuser"}
)


class CachedToken(NamedTuple):
    id: int
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    user_values: tuple[Any, ...]

    @property
    def is_active(self) -> bool:
        return token_is_active(revoked_at=self.revoked_at, expires_at=self.expires_at)

    def user(self) -> User:
        """A fresh instance on every call: requests never share one."""
        return User.from_db("default", USER_FIELDS, self.user_values)


def _key(key_hash: str) -> str:
    return f"tw:apitoken:{key_hash}"


def _encode(token: ApiToken) -> bytes:
    def value(obj: Any, field: str) -> Any:
        v = getattr(obj, field)
        return v.isoformat() if isinstance(v, datetime) else v

    return json.dumps([[value(token, f) for f in TOKEN_FIELDS], [value(token.user, f) for f in USER_FIELDS]]).encode()


@functools.lru_cache(maxsize=1024)
def _decode(raw: bytes) -> CachedToken:
    """Parsed once per entry and process: a local hit hands back the same bytes object."""
    (token_id, *datetimes), user_values = json.loads(raw)
    parsed = (datetime.fromisoformat(v) if v else None for v in datetimes)
    return CachedToken(token_id, *parsed, user_values=tuple(user_values))


def token_cached(*, key_hash: str) -> CachedToken | None:
    """The token with this hash, or None."""

    def build() -> bytes | None:
        token = ApiToken.objects.select_related("user").filter(key_hash=key_hash).first()
        return None if token is None else _encode(token)

    raw = near_cached(_key(key_hash), build, ttl=TTL_SECONDS)
    return None if raw is None else _decode(raw)


def token_cache_forget(*, key_hashes: list[str]) -> None:
    near_forget_on_commit([_key(h) for h in key_hashes])


def _token_changed(sender: Any, instance: ApiToken, **kwargs: Any) -> None:
    token_cache_forget(key_hashes=[instance.key_hash])


def _user_changed(sender: Any, instance: User, **kwargs: Any) -> None:
    token_cache_forget(key_hashes=list(ApiToken.objects.filter(user_id=instance.pk).values_list("key_hash", flat=True)))


def connect_signals() -> None:
    post_save.connect(_token_changed, sender=ApiToken, dispatch_uid="token_cache.token_saved")
    post_delete.connect(_token_changed, sender=ApiToken, dispatch_uid="token_cache.token_deleted")
    # A deleted user's tokens go by cascade, which sends post_delete for each of them.
    post_save.connect(_user_changed, sender=User, dispatch_uid="token_cache.user_saved")
