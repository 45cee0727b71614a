"""Every broker's metadata, in one place, and the lazy adapter lookup.

This dict is the single source for `/api/brokers/supported`, the connect wizard's forms,
the rate limiter's buckets and the model choices. Adapters are named by dotted path and
imported only when used, so a broker's SDK is never loaded by a process that does not talk to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal

from django.conf import settings
from django.utils.module_loading import import_string

from brokers.adapters.base import AdapterContext, BrokerAdapter, OrderType

AuthKind = Literal["api_key", "oauth", "gateway", "none"]
BracketSupport = Literal["native", "emulated", "none"]


@dataclass(frozen=True)
class CredentialField:
    name: str
    label: str
    secret: bool
    required: bool = True
    help: str = ""
    default: str = ""


@dataclass(frozen=True)
class RateLimit:
    """`requests` per `per_seconds`, counted per `scope` as the broker counts it.

    `model="decay"` is a counter-decay bucket (Kraken): a burst of `requests`, then one per
    `per_seconds / requests` seconds. `model="window"` must never exceed `requests` in any
    window of `per_seconds`.
    """

    requests: int
    per_seconds: float
    scope: Literal["credential", "account", "ip"] = "credential"
    model: Literal["window", "decay"] = "window"


@dataclass(frozen=True)
class BrokerSpec:
    key: str
    name: str
    adapter: str  # dotted path, imported lazily
    asset_classes: tuple[str, ...]
    order_types: tuple[OrderType, ...]
    bracket: BracketSupport
    paper_trading: bool
    auth: AuthKind
    credential_fields: tuple[CredentialField, ...]
    rate_limit: RateLimit
    premium_required: bool = True
    hint_field: str | None = None  # the key-id field whose last 4 characters may be shown
    docs_url: str = ""
    short_name: str = ""  # how people call it in a sentence ("Continue to Schwab"); defaults to name


ALL_ORDER_TYPES = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT)
_PENDING = "brokers.adapters.pending.PendingAdapter"

_GATEWAY_HOST = CredentialField(
    "host",
    "Gateway host",
    secret=False,
    default="127.0.0.1",
    help="Where your gateway runs; 127.0.0.1 when it is on this server.",
)

BROKERS: dict[str, BrokerSpec] = {
    spec.key: spec
    for spec in (
        BrokerSpec(
            key="alpaca",
            name="Alpaca",
            adapter=_PENDING,
            asset_classes=("equity", "crypto"),
            order_types=ALL_ORDER_TYPES,
            bracket="native",
            paper_trading=True,
            auth="api_key",
            credential_fields=(
                CredentialField(
                    "api_key_id",
                    "API key ID",
                    secret=False,
                    help="Alpaca dashboard → API Keys (paper and live keys differ).",
                ),
                CredentialField(
                    "api_secret_key",
                    "API secret key",
                    secret=True,
                    help="Shown once by Alpaca when the key is generated.",
                ),
            ),
            # https://docs.alpaca.markets/docs/trading-api — 200 requests per minute per account.
            rate_limit=RateLimit(200, 60, scope="account"),
            hint_field="api_key_id",
            docs_url="https://docs.alpaca.markets/reference",
        ),
        BrokerSpec(
            key="ibkr",
            name="Interactive Brokers",
            adapter=_PENDING,
            asset_classes=("equity", "option", "future", "forex", "crypto"),
            order_types=ALL_ORDER_TYPES,
            bracket="native",
            paper_trading=True,
            auth="gateway",
            credential_fields=(
                _GATEWAY_HOST,
                CredentialField(
                    "port",
                    "Gateway port",
                    secret=False,
                    default="4002",
                    help="IB Gateway: 4001 live, 4002 paper. TWS: 7496 live, 7497 paper.",
                ),
                CredentialField(
                    "client_id",
                    "API client ID",
                    secret=False,
                    default="17",
                    help="Any number not used by another API client of the same gateway.",
                ),
            ),
            # TWS API: at most 50 messages per second per client connection.
            rate_limit=RateLimit(50, 1, scope="account"),
            docs_url="https://interactivebrokers.github.io/tws-api/",
        ),
        BrokerSpec(
            key="schwab",
            name="Charles Schwab",
            adapter=_PENDING,
            asset_classes=("equity", "option", "etf"),
            order_types=ALL_ORDER_TYPES,
            bracket="native",
            paper_trading=False,
            auth="oauth",
            credential_fields=(
                CredentialField(
                    "app_key", "App key", secret=False, help="developer.schwab.com → Dashboard → your app's App Key."
                ),
                CredentialField(
                    "app_secret",
                    "App secret",
                    secret=True,
                    help="developer.schwab.com → Dashboard → your app's Secret.",
                ),
            ),
            # Trader API: 120 requests per minute per app/account.
            rate_limit=RateLimit(120, 60, scope="credential"),
            hint_field="app_key",
            docs_url="https://developer.schwab.com/products/trader-api--individual",
            short_name="Schwab",
        ),
        BrokerSpec(
            key="moomoo",
            name="Moomoo",
            adapter=_PENDING,
            asset_classes=("equity", "option"),
            order_types=ALL_ORDER_TYPES,
            bracket="emulated",
            paper_trading=True,
            auth="gateway",
            credential_fields=(
                _GATEWAY_HOST,
                CredentialField(
                    "port",
                    "OpenD port",
                    secret=False,
                    default="11111",
                    help="The API port in your OpenD configuration (11111 by default).",
                ),
                CredentialField(
                    "trade_password",
                    "Trade password",
                    secret=True,
                    required=False,
                    help="Unlocks live trading in OpenD; not needed for paper.",
                ),
            ),
            # OpenD: place/modify order at most 15 per 30 seconds per account.
            rate_limit=RateLimit(15, 30, scope="account"),
            docs_url="https://openapi.moomoo.com/moomoo-api-doc/en/intro/intro.html",
        ),
        BrokerSpec(
            key="kraken",
            name="Kraken",
            adapter=_PENDING,
            asset_classes=("crypto",),
            order_types=ALL_ORDER_TYPES,
            bracket="native",
            paper_trading=False,
            auth="api_key",
            credential_fields=(
                CredentialField(
                    "api_key",
                    "API key",
                    secret=False,
                    help="Kraken → Settings → API → Create key (query funds, orders, trade).",
                ),
                CredentialField(
                    "api_secret",
                    "Private key",
                    secret=True,
                    help="The base64 private key Kraken shows once with the API key.",
                ),
            ),
            # Counter-decay: Starter tier counter max 15, decaying 0.33 per second.
            rate_limit=RateLimit(15, 45, scope="credential", model="decay"),
            hint_field="api_key",
            docs_url="https://docs.kraken.com/api/docs/guides/spot-rest-ratelimits",
        ),
        BrokerSpec(
            key="coinbase",
            name="Coinbase",
            adapter=_PENDING,
            asset_classes=("crypto",),
            order_types=(OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT),
            bracket="native",
            paper_trading=False,
            auth="api_key",
            credential_fields=(
                CredentialField(
                    "api_key_name",
                    "API key name",
                    secret=False,
                    help="CDP portal → API keys: organizations/…/apiKeys/…",
                ),
                CredentialField(
                    "api_private_key",
                    "Private key",
                    secret=True,
                    help="The EC (or Ed25519) private key downloaded with the key.",
                ),
            ),
            # Advanced Trade: 30 requests per second per user on private endpoints.
            rate_limit=RateLimit(30, 1, scope="credential"),
            hint_field="api_key_name",
            docs_url="https://docs.cdp.coinbase.com/advanced-trade/docs/rest-api-rate-limits",
        ),
        BrokerSpec(
            key="paper",
            name="Paper broker",
            adapter="brokers.adapters.paper.PaperAdapter",
            asset_classes=("equity", "crypto"),
            order_types=ALL_ORDER_TYPES,
            bracket="native",
            paper_trading=True,
            auth="none",
            credential_fields=(),
            rate_limit=RateLimit(100, 1, scope="account"),
            premium_required=False,
        ),
    )
}

ALIASES = {"coinbasepro": "coinbase"}
CHOICES = [(spec.key, spec.name) for spec in BROKERS.values()]


def resolve_key(key: str) -> str | None:
    """The canonical broker key for `key` (aliases accepted), or None."""
    key = key.strip().lower()
    key = ALIASES.get(key, key)
    return key if key in BROKERS else None


def get_spec(key: str) -> BrokerSpec:
    resolved = resolve_key(key)
    if resolved is None:
        raise KeyError(key)
    return BROKERS[resolved]


def allowed_keys() -> set[str]:
    """Brokers the ALLOWED_BROKERS flag permits (all when unset)."""
    if not settings.ALLOWED_BROKERS:
        return set(BROKERS)
    return {k for k in (resolve_key(item) for item in settings.ALLOWED_BROKERS) if k}


def is_enabled(key: str) -> bool:
    return settings.BROKER_INTEGRATIONS_ENABLED and key in allowed_keys()


def requires_premium(spec: BrokerSpec) -> bool:
    return spec.premium_required and settings.BROKER_INTEGRATIONS_PREMIUM_ONLY


@cache
def _factory(path: str) -> type:
    return import_string(path)


def build_adapter(key: str, credentials: Mapping[str, str], *, paper: bool, context: AdapterContext) -> BrokerAdapter:
    spec = get_spec(key)
    adapter: BrokerAdapter = _factory(spec.adapter)(credentials, paper=paper, context=context)
    return adapter
