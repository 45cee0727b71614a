"""The demo account that `make run` ensures (CONTRACT.md "Demo"): premium, paper broker connected, a watchlist."""

from __future__ import annotations

import secrets

from accounts.models import Tier, User

DEMO_EMAIL = "demo@example.com"
DEMO_WATCHLIST = ("AAPL", "MSFT", "BTC/USD")


def demo_ensure(*, password: str | None) -> tuple[User, str]:
    """Create or refresh the demo user; return it with its (new) password."""
    from brokers.adapters.registry import get_spec
    from brokers.models import BrokerConnection
    from brokers.services.connections import connection_configure
    from watchlist.services import watchlist_symbol_add

    password = password or secrets.token_urlsafe(12)
    user, _ = User.objects.get_or_create(email=DEMO_EMAIL)
    user.tier = Tier.PREMIUM
    user.set_password(password)
    user.save()
    if not BrokerConnection.objects.filter(user=user, broker="paper").exists():
        connection_configure(user=user, spec=get_spec("paper"), credentials={}, paper=True)
    for symbol in DEMO_WATCHLIST:
        watchlist_symbol_add(user=user, symbol=symbol)  # a symbol already on the list stays as it is
    return user, password
