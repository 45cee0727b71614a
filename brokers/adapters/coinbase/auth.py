"""CDP API keys and the ccxt client: the only place the Coinbase SDK is configured.

A CDP key is a name (`organizations/{org}/apiKeys/{key}`) and a private key: an EC P-256 PEM
(ccxt signs ES256 JWTs) or a base64 Ed25519 secret (ccxt signs EdDSA). ccxt mints one JWT per
request, bound to the request's method, host and path, so nothing here caches a token.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import TYPE_CHECKING

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.conf import settings

from brokers.adapters.base import AuthenticationFailed

if TYPE_CHECKING:
    import ccxt

# One adapter call makes up to three requests (e.g. accounts, tickers, breakdown): each gets a
# third of the broker timeout, so the call as a whole stays within it.
REQUESTS_PER_CALL = 3
MISSING = "Coinbase needs the API key name and its private key (CDP portal → API keys)."
NAME_IS_KEY = "The first field is the key's name (organizations/…/apiKeys/…), not the private key."
BAD_KEY = (
    "The private key is not a Coinbase CDP key: paste the EC private key "
    "(-----BEGIN EC PRIVATE KEY-----…) or the Ed25519 secret shown with the API key."
)


def credentials_check(credentials: Mapping[str, str]) -> tuple[str, str]:
    """(key name, private key) as ccxt wants them; AuthenticationFailed when they cannot be right."""
    name = (credentials.get("api_key_name") or "").strip()
    # The CDP key file is JSON with "\n" escapes; people paste them literally.
    secret = (credentials.get("api_private_key") or "").strip().replace("\\n", "\n")
    if not name or not secret:
        raise AuthenticationFailed(MISSING)
    if "-----BEGIN" in name:
        raise AuthenticationFailed(NAME_IS_KEY)
    if secret.startswith("-----BEGIN"):
        return name, _pem_checked(secret + "\n")
    return name, _ed25519_checked(secret)


def _pem_checked(pem: str) -> str:
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise AuthenticationFailed(BAD_KEY) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise AuthenticationFailed(BAD_KEY)
    return pem


def _ed25519_checked(secret: str) -> str:
    try:
        raw = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise AuthenticationFailed(BAD_KEY) from None
    # ccxt picks EdDSA for a base64 secret ending in "=" (a 32-byte seed, or seed + public key).
    if len(raw) not in (32, 64) or not secret.endswith("="):
        raise AuthenticationFailed(BAD_KEY)
    return secret


def timeout_ms() -> int:
    return int(settings.BROKER_TIMEOUT_SECONDS * 1000 / REQUESTS_PER_CALL)


def exchange(name: str = "", secret: str = "") -> ccxt.coinbase:
    """ccxt's Advanced Trade client, pointed at COINBASE_API_URL through its own `urls` option.

    ccxt defaults `fetchBalance` to the v2 wallet endpoint; Advanced Trade balances (available
    and hold) come from v3 `brokerage/accounts`. Our Redis limiter paces calls, so ccxt's is off.
    """
    import ccxt

    config: dict[str, object] = {
        "enableRateLimit": False,
        "timeout": timeout_ms(),
        "options": {"fetchBalance": "v3PrivateGetBrokerageAccounts"},
    }
    url = (settings.COINBASE_API_URL or "").rstrip("/")
    if url:
        config["urls"] = {"api": {"rest": url}}
    if name:
        config["apiKey"], config["secret"] = name, secret
    return ccxt.coinbase(config)
