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

from brokers.adapters.base import AdapterContext, BrokerAdapter, OrderType, TimeInForce
from brokers.adapters.capabilities import Capabilities, RateLimit, RateLimits, capabilities

AuthKind = Literal["api_key", "oauth", "gateway", "none"]


@dataclass(frozen=True)
class CredentialField:
    name: str
    label: str
    secret: bool
    required: bool = True
    help: str = ""
    default: str = ""


@dataclass(frozen=True)
class BrokerSpec:
    key: str
    name: str
    adapter: str  # dotted path, imported lazily
    auth: AuthKind
    credential_fields: tuple[CredentialField, ...]
    capabilities: Capabilities
    premium_required: bool = True
    hint_field: str | None = None  # the key-id field whose last 4 characters may be shown
    docs_url: str = ""
    short_name: str = ""  # how people call it in a sentence ("Continue to Schwab"); defaults to name


ALL_TIF = (TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK)
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
            adapter="brokers.adapters.alpaca.adapter.AlpacaAdapter",
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
            capabilities=capabilities(
                # US equities only: crypto at Alpaca needs its crypto data API, not implemented.
                asset_classes=("equity",),
                time_in_force=ALL_TIF,
                # order_class=bracket (both exits) or oto (one), legs reported with their parent.
                bracket="native",
                # Fractionable assets to 9 decimals (day orders, simple class only, Alpaca's rules).
                fractional=True,
                # On margin accounts (Alpaca refuses a short where the account cannot short).
                short_selling=True,
                paper_trading=True,
                # client_order_id is unique per account for ever; a repeat is refused 422.
                client_id_dedup="unique",
                # The adapter polls; Alpaca's trade_updates stream is not used.
                order_updates="poll",
                session="pooled",
                rate_limits=RateLimits(
                    # https://docs.alpaca.markets/docs/trading-api: 200 requests per minute per
                    # account, every trading call together. A cancel reads the order back and a
                    # refused duplicate id is looked up: a second request counted as one call, which
                    # the limiter's steady rate (about 90 % of the limit) leaves room for.
                    orders=RateLimit(200, 60, scope="account", bucket="trading"),
                    cancels=RateLimit(200, 60, scope="account", bucket="trading"),
                    queries=RateLimit(200, 60, scope="account", bucket="trading"),
                    # The Market Data API counts apart (200 per minute on the Basic plan); one
                    # batch of quotes is two requests (latest quotes + snapshots).
                    market_data=RateLimit(100, 60, scope="account", bucket="data"),
                ),
                # One call, everything included: alpaca-py would retry a 429/504 three times with 3 s
                # sleeps and no HTTP timeout; the adapter lets 429s through to the limiter, retries a
                # 504 once after 1 s, and gives each of the two tries (15 - 1) / 2 = 7 s of HTTP
                # timeout (brokers/adapters/alpaca/clients.py).
                timeout_seconds=15.0,
            ),
            hint_field="api_key_id",
            docs_url="https://docs.alpaca.markets/reference",
        ),
        BrokerSpec(
            key="ibkr",
            name="Interactive Brokers",
            adapter="brokers.adapters.ibkr.adapter.IbkrAdapter",
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
                    required=False,
                    help=(
                        "Leave blank to have one derived from this connection (unique per connection). "
                        "If you set one, no other API client of the same gateway may use it."
                    ),
                ),
                CredentialField(
                    "account",
                    "Account ID",
                    secret=False,
                    required=False,
                    help="Only for logins that manage several accounts (DU… for paper); blank uses the first.",
                ),
            ),
            capabilities=capabilities(
                # US stocks (SMART routing, USD) are what the adapter trades and quotes.
                asset_classes=("equity",),
                time_in_force=ALL_TIF,
                bracket="native",
                short_selling=True,
                paper_trading=True,
                # `orderRef` carries our client order id; find_order looks it up among open and
                # completed orders (IB itself does not refuse a repeated orderRef).
                client_id_dedup="unique",
                order_updates="stream",
                session="gateway",
                # TWS API: at most 50 messages per second per client connection (error 100 and a
                # disconnect beyond); ib_async also throttles itself near 45.
                rate_limits=RateLimits.shared(RateLimit(50, 1, scope="account")),
            ),
            docs_url="https://interactivebrokers.github.io/tws-api/",
        ),
        BrokerSpec(
            key="schwab",
            name="Charles Schwab",
            adapter="brokers.adapters.schwab.adapter.SchwabAdapter",
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
            capabilities=capabilities(
                # US stocks and ETFs, whole shares, equity legs only (no options through Tradewire).
                asset_classes=("equity",),
                time_in_force=ALL_TIF,
                # A TRIGGER order whose child is an OCO pair (take-profit LIMIT, stop-loss STOP/STOP_LIMIT).
                bracket="native",
                # Sells are plain SELL legs (closing a position); SELL_SHORT is not sent.
                short_selling=False,
                # No client order id: a lost answer is matched on the account's recent orders.
                client_id_dedup="none",
                # Trader API: 120 requests per minute per app; order placement is limited per account.
                rate_limits=RateLimits(
                    orders=RateLimit(120, 60, scope="account"),
                    queries=RateLimit(120, 60, scope="credential", bucket="app"),
                    market_data=RateLimit(120, 60, scope="credential", bucket="app"),
                ),
            ),
            hint_field="app_key",
            docs_url="https://developer.schwab.com/products/trader-api--individual",
            short_name="Schwab",
        ),
        BrokerSpec(
            key="moomoo",
            name="Moomoo",
            adapter="brokers.adapters.moomoo.adapter.MoomooAdapter",
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
                CredentialField(
                    "market",
                    "Market",
                    secret=False,
                    required=False,
                    default="US",
                    help="US or HK: the market whose account to trade (an HK account holds HKD).",
                ),
            ),
            capabilities=capabilities(
                # Stocks and ETFs by ticker (US) or code (HK); market, limit, stop and stop-limit
                # orders, day or GTC, as futu's OrderType/TimeInForce allow for both markets.
                asset_classes=("equity",),
                # No native bracket in OpenD: the platform places the exit legs once the parent fills.
                bracket="emulated",
                # A SELL beyond the position opens a short on a margin account.
                short_selling=True,
                paper_trading=True,
                client_id_dedup="remark",
                order_updates="stream",
                session="gateway",
                # OpenD's limits per call kind, per account: place 15, modify/cancel 20, queries 10
                # and snapshots 60, each per 30 seconds.
                rate_limits=RateLimits(
                    orders=RateLimit(15, 30, scope="account", burst=5),
                    cancels=RateLimit(20, 30, scope="account", burst=5),
                    # Each query endpoint (funds, positions, orders, ...) is limited on its own.
                    queries=RateLimit(10, 30, scope="account", burst=5, per_method=True),
                    market_data=RateLimit(60, 30, scope="account", burst=10),
                ),
                # Up to 5 s to (re)open OpenD's contexts, then futu's own 12 s request timeout.
                timeout_seconds=20.0,
            ),
            docs_url="https://openapi.moomoo.com/moomoo-api-doc/en/intro/intro.html",
        ),
        BrokerSpec(
            key="kraken",
            name="Kraken",
            adapter="brokers.adapters.kraken.adapter.KrakenAdapter",
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
            capabilities=capabilities(
                asset_classes=("crypto",),
                time_in_force=(TimeInForce.GTC, TimeInForce.IOC),
                # One conditional close per order (`close[...]`): both legs are emulated.
                bracket="emulated",
                fractional=True,
                # cl_ord_id is unique among OPEN orders only: find_order searches closed ones too.
                client_id_dedup="open_orders_only",
                # No private stream is used: OpenOrders is polled, one counter point each time;
                # every 4 s takes 0.25 of the Starter decay (0.33/s) and reports a fill within 5 s.
                poll_seconds=4.0,
                # Charged per request, as Kraken counts (brokers/adapters/kraken/client.py).
                rate_limits=RateLimits(
                    # AddOrder/CancelOrder: the matching engine's trading counter (Starter: 60,
                    # decaying 1 per second; counted per pair there, per key here).
                    orders=RateLimit(60, 60, scope="credential", model="decay", bucket="trading"),
                    # Every other private call: the key's counter (Starter: 15, decaying 0.33 per second).
                    queries=RateLimit(15, 45, scope="credential", model="decay", bucket="private"),
                    # Public endpoints: about one call per second per IP.
                    market_data=RateLimit(1, 1, scope="ip"),
                ),
            ),
            hint_field="api_key",
            docs_url="https://docs.kraken.com/api/docs/guides/spot-rest-ratelimits",
        ),
        BrokerSpec(
            key="coinbase",
            name="Coinbase",
            adapter="brokers.adapters.coinbase.adapter.CoinbaseAdapter",
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
            capabilities=capabilities(
                asset_classes=("crypto",),
                # No plain stop (stop-market) order at Coinbase; market orders are always IOC.
                order_types=(OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT),
                # day = good till 00:00 UTC (a GTD order); ioc/fok are limit orders only.
                time_in_force=(TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK),
                # Stop-limit orders come as stop_limit_stop_limit_gtc or _gtd only.
                time_in_force_by_type=((OrderType.STOP_LIMIT, (TimeInForce.DAY, TimeInForce.GTC)),),
                # An attached trigger_bracket_gtc: both exits together, stop limit set by Coinbase.
                bracket="native",
                bracket_legs="both",
                stop_loss_limit=False,
                fractional=True,
                # A repeated client_order_id returns the first order (Create Order reference).
                client_id_dedup="unique",
                rate_limits=RateLimits(
                    # Advanced Trade: 30 requests per second per user on private endpoints.
                    orders=RateLimit(30, 1, scope="credential", bucket="private"),
                    queries=RateLimit(30, 1, scope="credential", bucket="private"),
                    # Public endpoints: 10 requests per second per IP.
                    market_data=RateLimit(10, 1, scope="ip"),
                ),
            ),
            hint_field="api_key_name",
            docs_url="https://docs.cdp.coinbase.com/advanced-trade/docs/rest-api-rate-limits",
        ),
        BrokerSpec(
            key="paper",
            name="Paper broker",
            adapter="brokers.adapters.paper.PaperAdapter",
            auth="none",
            credential_fields=(),
            capabilities=capabilities(
                asset_classes=("equity", "crypto"),
                time_in_force=ALL_TIF,
                bracket="native",
                fractional=True,
                paper_trading=True,
                # Its matching engine reports every change as it happens (brokers.tasks.paper_match).
                order_updates="stream",
                session="per_call",
                rate_limits=RateLimits.shared(RateLimit(100, 1, scope="account")),
            ),
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


def requires_premium(spec: BrokerSpec) -> bool:
    return spec.premium_required and settings.BROKER_INTEGRATIONS_PREMIUM_ONLY


@cache
def _factory(path: str) -> type:
    return import_string(path)


def build_adapter(key: str, credentials: Mapping[str, str], *, paper: bool, context: AdapterContext) -> BrokerAdapter:
    spec = get_spec(key)
    adapter: BrokerAdapter = _factory(spec.adapter)(credentials, paper=paper, context=context)
    return adapter
