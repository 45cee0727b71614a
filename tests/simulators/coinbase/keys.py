"""CDP API keys and the bearer JWT check, as Coinbase's Advanced Trade API authenticates requests.

https://docs.cdp.coinbase.com/coinbase-app/authentication-authorization/api-key-authentication

A CDP key is named `organizations/{org}/apiKeys/{key}` and signs a short-lived JWT per request:
header `{alg, kid: <key name>, nonce}`, claims `{sub: <key name>, iss, nbf, exp, uri}` where
`uri` is `"<METHOD> <host><path>"` and `exp` is at most two minutes after `nbf`. ECDSA keys sign
ES256 (PEM `EC PRIVATE KEY`); Ed25519 keys (base64 of seed + public key) sign EdDSA and put the
URI in a `uris` list. Keys are generated at test time; nothing here is ever committed.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

# Coinbase's reference signs with iss "cdp"; ccxt (and older CDP samples) send "coinbase-cloud".
ISSUERS = frozenset({"cdp", "coinbase-cloud"})
MAX_LIFETIME = 120  # seconds between nbf and exp
LEEWAY = 5  # seconds of clock difference tolerated on nbf/exp


class AuthError(Exception):
    """Why a bearer token was refused (logged by tests; Coinbase itself only says "Unauthorized")."""


@dataclass(frozen=True)
class ApiKey:
    name: str  # the key name: kid and sub of every token
    secret: str  # what the user pastes: a PEM EC key, or base64 of an Ed25519 seed + public key
    public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

    @property
    def algorithm(self) -> str:
        return "EdDSA" if isinstance(self.public_key, ed25519.Ed25519PublicKey) else "ES256"

    @property
    def credentials(self) -> dict[str, str]:
        """As the adapter's credential fields name them."""
        return {"api_key_name": self.name, "api_private_key": self.secret}


def ec_key(name: str | None = None) -> ApiKey:
    """A fresh ECDSA P-256 key as the CDP portal issues it (SEC1 PEM, `organizations/…/apiKeys/…`)."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    name = name or f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}"
    return ApiKey(name=name, secret=pem, public_key=private.public_key())


def ed25519_key(name: str | None = None) -> ApiKey:
    """A fresh Ed25519 key as the CDP portal issues it: an id, and base64(seed + public key)."""
    private = ed25519.Ed25519PrivateKey.generate()
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private.public_key()
    raw_public = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return ApiKey(
        name=name or str(uuid.uuid4()), secret=base64.b64encode(seed + raw_public).decode(), public_key=public
    )


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _decode(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    try:
        head, body, signature = token.split(".")
        return json.loads(_b64url(head)), json.loads(_b64url(body)), _b64url(signature), f"{head}.{body}".encode()
    except (ValueError, TypeError) as exc:
        raise AuthError(f"malformed token: {exc}") from None


def _verify_signature(key: ApiKey, alg: str, signature: bytes, signed: bytes) -> None:
    if alg != key.algorithm:
        raise AuthError(f"alg {alg!r} does not match the key's {key.algorithm}")
    try:
        if isinstance(key.public_key, ed25519.Ed25519PublicKey):
            key.public_key.verify(signature, signed)
            return
        if len(signature) != 64:
            raise AuthError("an ES256 signature is 64 bytes (r || s)")
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        key.public_key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AuthError("bad signature") from None


def _check_times(claims: dict[str, Any], now: float) -> None:
    nbf, exp = claims.get("nbf"), claims.get("exp")
    if not isinstance(nbf, int) or not isinstance(exp, int):
        raise AuthError("nbf and exp are required integers")
    if exp - nbf > MAX_LIFETIME:
        raise AuthError("a token may live at most two minutes")
    if now + LEEWAY < nbf:
        raise AuthError("token not yet valid")
    if now - LEEWAY >= exp:
        raise AuthError("token expired")


def _check_uri(claims: dict[str, Any], method: str, host: str, path: str) -> None:
    uri = claims.get("uri")
    uris = claims.get("uris")
    presented = [uri] if isinstance(uri, str) else uris if isinstance(uris, list) else []
    # ccxt strips only "https://" from the URL it signs, so a plain-HTTP test endpoint keeps its scheme.
    expected = {f"{method} {host}{path}", f"{method} http://{host}{path}"}
    if not expected.intersection(presented):
        raise AuthError(f"uri claim {presented!r} does not match {method} {host}{path}")


def verify_bearer(
    authorization: str, *, keys: dict[str, ApiKey], method: str, host: str, path: str, now: float
) -> ApiKey:
    """The key that signed this request's `Authorization: Bearer <JWT>`; AuthError otherwise."""
    scheme, _, token = authorization.partition(" ")
    if scheme != "Bearer" or not token:
        raise AuthError("no bearer token")
    header, claims, signature, signed = _decode(token.strip())
    key = keys.get(str(header.get("kid")))
    if key is None:
        raise AuthError("unknown key name")
    if claims.get("sub") != key.name:
        raise AuthError("sub is not the key name")
    _verify_signature(key, str(header.get("alg")), signature, signed)
    if claims.get("iss") not in ISSUERS:
        raise AuthError(f"iss {claims.get('iss')!r} is not cdp")
    _check_times(claims, now)
    _check_uri(claims, method, host, path)
    return key
