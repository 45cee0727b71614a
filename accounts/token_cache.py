"""API tokens by key hash in the near cache (config/nearcache.py), so authenticating an API
request costs no database query and, once a process has seen the token, no Redis round trip.

Saving or deleting a token or its user drops its entries in every process (signals, so the
admin and every service are covered). Only the fields below are cached, never the password
hash; the rebuilt instances load any other field from the database if something asks for it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.db.models.signals import post_delete, post_save

from accounts.models import ApiToken, User
from config.nearcache import near_cached, near_forget_on_commit

TTL_SECONDS = 60


def _in_model_order(model: Any, names: set[str]) -> tuple[str, ...]:
    # Model.from_db takes a partial row's values in the model's own field order.
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in names)


TOKEN_FIELDS = _in_model_order(ApiToken, {"id", "user_id", "key_hash", "expires_at", "last_used_at", "revoked_at"})
USER_FIELDS = _in_model_order(User, {"id", "email", "tier", "is_active", "is_staff", "is_superuser"})
_DATETIMES = {"expires_at", "last_used_at", "revoked_at"}


def _key(key_hash: str) -> str:
    return f"tw:apitoken:{key_hash}"


def _encode(token: ApiToken) -> bytes:
    def value(obj: Any, field: str) -> Any:
        v = getattr(obj, field)
        return v.isoformat() if isinstance(v, datetime) else v

    return json.dumps([[value(token, f) for f in TOKEN_FIELDS], [value(token.user, f) for f in USER_FIELDS]]).encode()


def _decode(raw: bytes) -> ApiToken:
    token_values, user_values = json.loads(raw)
    pairs = zip(TOKEN_FIELDS, token_values, strict=True)
    values = [datetime.fromisoformat(v) if f in _DATETIMES and v else v for f, v in pairs]
    token = ApiToken.from_db("default", TOKEN_FIELDS, values)
    token.user = User.from_db("default", USER_FIELDS, user_values)
    return token


def token_cached(*, key_hash: str) -> ApiToken | None:
    """The token with this hash and its user (fresh instances each call), or None."""

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
