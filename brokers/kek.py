"""Key-encryption keys (KEKs) for the credential vault: AWS KMS in production, a local key otherwise.

A provider wraps and unwraps 256-bit data keys, always bound to an encryption context (the
user, connection and field a secret belongs to). `kek_id`s name the KEK that wrapped a data
key without revealing it: `kms:<key ARN>` or `local:<first 16 hex of SHA-256 of the key>`.
Providers hold key material only for the duration of one vault call; nothing is cached here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.env import env_list

logger = logging.getLogger(__name__)

KMS_PREFIX = "kms:"
LOCAL_PREFIX = "local:"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_HELP = "generate one with: python -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())'"

Context = Mapping[str, str]


class KekError(Exception):
    """A KEK could not wrap or unwrap a data key. The message never carries key material."""


@dataclass(frozen=True)
class DataKey:
    """A fresh data key: the plaintext to seal with, and the same key wrapped by `key_id`."""

    plaintext: bytes = field(repr=False)
    wrapped: bytes
    key_id: str


@runtime_checkable
class KeyProvider(Protocol):
    """A key-encryption key. `context` is authenticated: unwrapping needs the same one."""

    @property
    def key_id(self) -> str: ...

    def generate_data_key(self, context: Context) -> DataKey: ...

    def wrap(self, data_key: bytes, context: Context) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: Context, key_id: str) -> bytes: ...


def context_bytes(context: Context) -> bytes:
    """A canonical encoding of `context`, for use as AES-GCM associated data."""
    return json.dumps(dict(context), sort_keys=True, separators=(",", ":")).encode()


def aead_seal(*, key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """AES-256-GCM with a random 96-bit nonce; returns nonce || ciphertext || tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def aead_open(*, key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    """The inverse of `aead_seal`; raises `InvalidTag` if anything was altered or moved."""
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)


# --- local key ----------------------------------------------------------------------


def local_key_id(key: bytes) -> str:
    return LOCAL_PREFIX + hashlib.sha256(key).hexdigest()[:16]


class LocalKeyProvider:
    """AES-256-GCM key wrapping under a local key. `keys[0]` wraps; every key may unwrap."""

    def __init__(self, *, keys: Sequence[bytes]) -> None:
        if not keys:
            raise KekError("No local key-encryption key is configured.")
        self._current = keys[0]
        self._keys = {local_key_id(key): key for key in keys}

    @property
    def key_id(self) -> str:
        return local_key_id(self._current)

    def generate_data_key(self, context: Context) -> DataKey:
        data_key = AESGCM.generate_key(bit_length=256)
        return DataKey(plaintext=data_key, wrapped=self.wrap(data_key, context), key_id=self.key_id)

    def wrap(self, data_key: bytes, context: Context) -> bytes:
        return aead_seal(key=self._current, plaintext=data_key, associated_data=context_bytes(context))

    def unwrap(self, wrapped: bytes, context: Context, key_id: str) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise KekError(f"The local key {key_id} is not configured; list it in VAULT_PREVIOUS_LOCAL_KEYS.")
        try:
            return aead_open(key=key, sealed=wrapped, associated_data=context_bytes(context))
        except (InvalidTag, ValueError):
            raise KekError(f"The data key wrapped by {key_id} was altered or belongs to another row.") from None


def _decode_key(raw: str, *, source: str) -> bytes:
    # The value is never echoed: a near-miss is still most of a key.
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ImproperlyConfigured(f"{source} must hold a 256-bit key encoded as base64; {KEY_HELP}")
    return key


def _key_file_create(path: Path) -> None:
    """Write a new random key to `path` with mode 0600, unless another process got there first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vault-key-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(os.urandom(KEY_BYTES)).decode() + "\n")
        # link() fails if the file exists, so two processes starting at once agree on one key.
        os.link(tmp, path)
    except FileExistsError:
        return
    finally:
        os.unlink(tmp)
    logger.info("Created the local vault key file %s.", path)


def _key_file_read(path: Path, *, create: bool) -> bytes | None:
    if not path.exists():
        if not create:
            return None
        _key_file_create(path)
    if path.stat().st_mode & 0o077:
        logger.warning("The vault key file %s is readable by other users; chmod 600 it.", path)
    return _decode_key(path.read_text(), source=f"The vault key file {path}")


def local_keys(*, create: bool) -> list[bytes]:
    """The current local key (VAULT_LOCAL_KEY, else the key file) first, then the previous ones.

    With `create`, a missing key file is created; without it (only unwrapping), it is left absent.
    """
    if settings.VAULT_LOCAL_KEY:
        current: bytes | None = _decode_key(settings.VAULT_LOCAL_KEY, source="VAULT_LOCAL_KEY")
    else:
        current = _key_file_read(Path(settings.VAULT_LOCAL_KEY_FILE), create=create)
    previous = [
        _decode_key(raw, source="Each of VAULT_PREVIOUS_LOCAL_KEYS")
        for raw in env_list("VAULT_PREVIOUS_LOCAL_KEYS", [])
    ]
    return [current, *previous] if current else previous


# --- AWS KMS ------------------------------------------------------------------------


def kms_client() -> Any:
    """A KMS client: region from the usual AWS configuration (default us-east-1), endpoint from settings."""
    session = boto3.session.Session()
    return session.client(
        "kms",
        region_name=session.region_name or "us-east-1",
        endpoint_url=settings.AWS_KMS_ENDPOINT_URL or None,
        config=Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard", "max_attempts": 3}),
    )


class KmsKeyProvider:
    """Data keys from KMS `GenerateDataKey`, unwrapped by `Decrypt`, both with an encryption context."""

    def __init__(self, *, key: str, client: Any | None = None) -> None:
        self._key = key  # a key id, ARN or alias, as configured
        self._client = client or kms_client()

    @cached_property
    def key_id(self) -> str:
        # Resolved, so an alias and the ARN it points at are recognised as the same KEK.
        return KMS_PREFIX + self._call("describe_key", KeyId=self._key)["KeyMetadata"]["Arn"]

    def generate_data_key(self, context: Context) -> DataKey:
        response = self._call("generate_data_key", KeyId=self._key, KeySpec="AES_256", EncryptionContext=dict(context))
        return DataKey(
            plaintext=response["Plaintext"], wrapped=response["CiphertextBlob"], key_id=KMS_PREFIX + response["KeyId"]
        )

    def wrap(self, data_key: bytes, context: Context) -> bytes:
        response = self._call("encrypt", KeyId=self._key, Plaintext=data_key, EncryptionContext=dict(context))
        return bytes(response["CiphertextBlob"])

    def unwrap(self, wrapped: bytes, context: Context, key_id: str) -> bytes:
        # Naming the key makes KMS refuse a blob wrapped by any other key than the row says.
        response = self._call(
            "decrypt", CiphertextBlob=wrapped, KeyId=key_id.removeprefix(KMS_PREFIX), EncryptionContext=dict(context)
        )
        return bytes(response["Plaintext"])

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        operation = self._client.meta.method_to_api_mapping[method]
        try:
            return getattr(self._client, method)(**params)
        except ClientError as exc:
            # Only the error code: KMS messages are safe today, but they are not ours to vouch for.
            code = exc.response.get("Error", {}).get("Code", "unknown")
            raise KekError(f"KMS {operation} failed: {code}.") from None
        except BotoCoreError as exc:
            raise KekError(f"KMS {operation} failed: {type(exc).__name__}.") from None


# --- which provider -------------------------------------------------------------------


def kek_current() -> KeyProvider:
    """The KEK new data keys are wrapped by: KMS when AWS_KMS_KEY_ID is set, else the local key."""
    if settings.AWS_KMS_KEY_ID:
        return KmsKeyProvider(key=settings.AWS_KMS_KEY_ID)
    return LocalKeyProvider(keys=local_keys(create=True))


def kek_for(*, kek_id: str) -> KeyProvider:
    """A provider able to unwrap data keys recorded as wrapped by `kek_id`."""
    if kek_id.startswith(KMS_PREFIX):
        return KmsKeyProvider(key=kek_id.removeprefix(KMS_PREFIX))
    if kek_id.startswith(LOCAL_PREFIX):
        return LocalKeyProvider(keys=local_keys(create=False))
    raise KekError(f"Unknown kind of key-encryption key {kek_id!r}.")
