"""Who may use which broker: feature flags, the allow-list and the premium tier (CONTRACT.md).

The built-in paper broker talks to nothing outside, so the integration flags and the
allow-list govern only real brokers; paper stays open to every tier.
"""

from __future__ import annotations

from django.conf import settings

from accounts.models import User
from brokers.adapters.registry import BrokerSpec, allowed_keys, get_spec, requires_premium
from config.domain import Forbidden, NotFound, Unavailable

PAPER = "paper"


def broker_spec_or_404(key: str) -> BrokerSpec:
    try:
        return get_spec(key)
    except KeyError:
        raise NotFound(f"Unknown broker {key!r}.") from None


def broker_access_check(*, user: User, spec: BrokerSpec) -> None:
    """Refuse (Unavailable / Forbidden, with the contract's codes) when `user` may not use `spec` now."""
    if spec.key == PAPER:
        return
    if not settings.BROKER_INTEGRATIONS_ENABLED:
        raise Unavailable("Broker integrations are turned off right now.", code="broker_integrations_disabled")
    if spec.key not in allowed_keys():
        raise Forbidden(f"{spec.name} is not enabled on this server.", code="broker_not_allowed")
    if requires_premium(spec) and not user.is_premium:
        raise Forbidden("Broker integrations require the premium tier.", code="premium_required")


def broker_enabled(spec: BrokerSpec) -> bool:
    return spec.key == PAPER or (settings.BROKER_INTEGRATIONS_ENABLED and spec.key in allowed_keys())


def broker_disabled_reason(spec: BrokerSpec) -> str:
    """Why `spec` is unavailable on this server, for the wizard; "" when it is enabled."""
    if broker_enabled(spec):
        return ""
    if not settings.BROKER_INTEGRATIONS_ENABLED:
        return "Broker integrations are turned off right now."
    return f"{spec.name} is not enabled on this server."
