"""The demo account that `make run` ensures (CONTRACT.md "Demo")."""

from __future__ import annotations

import secrets

from django.db import transaction

from accounts.models import Tier, User

DEMO_EMAIL = "demo@example.com"


@transaction.atomic
def demo_ensure(*, password: str | None) -> tuple[User, str]:
    """Create or refresh the demo user; return it with its (new) password."""
    password = password or secrets.token_urlsafe(12)
    user, _ = User.objects.get_or_create(email=DEMO_EMAIL)
    user.tier = Tier.PREMIUM
    user.set_password(password)
    user.save()
    return user, password
