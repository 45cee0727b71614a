"""Reads for accounts: a user's API tokens as the account page lists them."""

from __future__ import annotations

from django.db.models import Case, CharField, QuerySet, Value, When
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import ApiToken, User


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    """The user's tokens, newest first, each with `status`: active, expired or revoked."""
    return ApiToken.objects.filter(user=user).annotate(
        status=Case(
            When(revoked_at__isnull=False, then=Value("revoked")),
            When(expires_at__lte=timezone.now(), then=Value("expired")),
            default=Value("active"),
            output_field=CharField(),
        )
    )


def api_token_get(*, user: User, token_id: int) -> ApiToken:
    """One of the user's tokens; another user's is a 404, so its existence is not revealed."""
    return get_object_or_404(ApiToken, pk=token_id, user=user)
