"""The credential vault: the only module that sees broker credentials in plaintext.

Envelope encryption. Each secret is sealed with AES-256-GCM under its own fresh 256-bit data
key, with associated data binding it to its row (user id, connection id, field name), so a
ciphertext copied to another row, connection or field fails to open. The data key is stored
wrapped by a key-encryption key (KEK, see `brokers.kek`), and `kek_id` records which one.
Stored layout: `ciphertext` is nonce || ciphertext || tag; `wrapped_key` is the same for a local
KEK and a KMS ciphertext blob for KMS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from brokers.kek import (
    Context,
    KekError,
    KeyProvider,
    aead_open,
    aead_seal,
    context_bytes,
    kek_current,
    kek_for,
)
from brokers.models import BrokerConnection, Credential

logger = logging.getLogger(__name__)

ROTATE_BATCH = 500

T = TypeVar("T")


class VaultError(Exception):
    """A secret could not be sealed, opened or re-wrapped.

    The message names the row and the reason; it never carries a secret, key material or ciphertext.
    """


def credentials_store(*, connection: BrokerConnection, values: Mapping[str, str]) -> None:
    """Seal `values` (field name → secret) as the connection's credentials, replacing all stored ones.

    Empty values are not stored. Every secret gets its own data key. The keys are made before the
    transaction opens, so KMS round trips never hold database locks. Raises VaultError if the KEK
    cannot make data keys, ImproperlyConfigured if the local key is malformed.
    """
    try:
        kek = kek_current()
        rows = [
            _seal(kek=kek, connection=connection, field=field, secret=secret)
            for field, secret in values.items()
            if secret
        ]
    except KekError as exc:
        raise VaultError(f"Could not seal the credentials of connection {connection.pk}: {exc}") from None
    with transaction.atomic():
        Credential.objects.filter(connection=connection).delete()
        Credential.objects.bulk_create(rows)
        # Every process's pooled adapter for this connection is rebuilt with the new values.
        BrokerConnection.objects.filter(pk=connection.pk).update(credentials_version=F("credentials_version") + 1)
    connection.credentials_version += 1
    logger.info("Stored %d credential fields for connection %s.", len(rows), connection.pk)


def credentials_rotate(
    update: Callable[[dict[str, str]], dict[str, str] | None], *, connection_id: int
) -> dict[str, str]:
    """Change some of a connection's credentials from their current values, serialised on its row.

    `update` gets the credentials as stored now and returns the fields to change (or None to
    change nothing); it runs under the connection's row lock, so of two processes refreshing a
    rotating OAuth token at once the second sees the first one's new token and can use it
    instead of spending an old refresh token. Returns the credentials as stored afterwards.
    """
    with transaction.atomic():
        connection = BrokerConnection.objects.select_for_update().get(pk=connection_id)
        current = credentials_load(connection=connection)
        changes = update(dict(current))
        if not changes:
            return current
        merged = {**current, **changes}
        credentials_store(connection=connection, values=merged)
    return merged


def credentials_load(*, connection: BrokerConnection) -> dict[str, str]:
    """The connection's credentials in plaintext, field name → secret.

    Raises VaultError if any of them fails to open (altered, moved from another row, or its KEK
    is no longer configured). Keep the result in a local variable for one operation; never store it.
    """
    unwrappers: dict[str, KeyProvider] = {}
    return {
        row.field: _open(row=row, connection=connection, unwrappers=unwrappers)
        for row in Credential.objects.filter(connection=connection)
    }


def credentials_destroy(*, connection: BrokerConnection) -> int:
    """Delete the connection's stored credentials; returns how many fields were destroyed."""
    deleted, _ = Credential.objects.filter(connection=connection).delete()
    logger.info("Destroyed %d credential fields of connection %s.", deleted, connection.pk)
    return deleted


def kek_rotate() -> int:
    """Re-wrap every stored data key under the current KEK, leaving the ciphertexts untouched.

    Returns how many data keys this call re-wrapped. Rows already under the current KEK are
    skipped and not counted, so a repeated run returns 0. Old KEKs must still be configured to
    unwrap (VAULT_PREVIOUS_LOCAL_KEYS; KMS keys by the ARN in `kek_id`). On the first row that
    cannot be re-wrapped this raises VaultError; rows done before it stay done and a rerun resumes.
    """
    current = _kek(kek_current)
    target = _kek(lambda: current.key_id)
    unwrappers: dict[str, KeyProvider] = {}
    count = sum(
        _rewrap(row=row, current=current, target=target, unwrappers=unwrappers) for row in _rows_not_under(target)
    )
    logger.info("Re-wrapped %d data keys under %s.", count, target)
    return count


def kek_current_id() -> str:
    """The id of the KEK that wraps new data keys, e.g. `local:3f2a…` or `kms:arn:aws:kms:…`. Safe to show."""
    return _kek(lambda: kek_current().key_id)


def _context(*, connection: BrokerConnection, field: str) -> Context:
    return {"user_id": str(connection.user_id), "connection_id": str(connection.pk), "field": field}


def _seal(*, kek: KeyProvider, connection: BrokerConnection, field: str, secret: str) -> Credential:
    context = _context(connection=connection, field=field)
    data_key = kek.generate_data_key(context)
    ciphertext = aead_seal(key=data_key.plaintext, plaintext=secret.encode(), associated_data=context_bytes(context))
    return Credential(
        connection=connection, field=field, ciphertext=ciphertext, wrapped_key=data_key.wrapped, kek_id=data_key.key_id
    )


def _open(*, row: Credential, connection: BrokerConnection, unwrappers: dict[str, KeyProvider]) -> str:
    context = _context(connection=connection, field=row.field)
    try:
        data_key = _unwrap(row=row, context=context, unwrappers=unwrappers)
        return aead_open(key=data_key, sealed=bytes(row.ciphertext), associated_data=context_bytes(context)).decode()
    except KekError as exc:
        reason = str(exc)
    except (InvalidTag, ValueError):
        reason = "the ciphertext was altered or belongs to another row."
    logger.warning("Credential %r of connection %s failed to open: %s", row.field, connection.pk, reason)
    raise VaultError(f"Credential {row.field!r} of connection {connection.pk} could not be opened: {reason}")


def _unwrap(*, row: Credential, context: Context, unwrappers: dict[str, KeyProvider]) -> bytes:
    # One provider per KEK per call: a local keyring is read once, a KMS client built once.
    if row.kek_id not in unwrappers:
        unwrappers[row.kek_id] = kek_for(kek_id=row.kek_id)
    return unwrappers[row.kek_id].unwrap(bytes(row.wrapped_key), context, row.kek_id)


def _rows_not_under(kek_id: str) -> Iterator[Credential]:
    # In primary-key batches rather than one open cursor: SQLite gives a cursor no isolation
    # from the updates made while it is being read.
    queryset = Credential.objects.exclude(kek_id=kek_id).select_related("connection").order_by("pk")
    last = 0
    while batch := list(queryset.filter(pk__gt=last)[:ROTATE_BATCH]):
        yield from batch
        last = batch[-1].pk


def _rewrap(*, row: Credential, current: KeyProvider, target: str, unwrappers: dict[str, KeyProvider]) -> int:
    context = _context(connection=row.connection, field=row.field)
    try:
        wrapped = current.wrap(_unwrap(row=row, context=context, unwrappers=unwrappers), context)
    except KekError as exc:
        raise VaultError(f"Could not re-wrap the data key of credential {row.pk} (under {row.kek_id}): {exc}") from None
    # Compare-and-set: a row replaced or re-wrapped meanwhile is left alone and not counted.
    return Credential.objects.filter(pk=row.pk, kek_id=row.kek_id).update(
        wrapped_key=wrapped, kek_id=target, updated_at=timezone.now()
    )


def _kek(action: Callable[[], T]) -> T:
    try:
        return action()
    except KekError as exc:
        raise VaultError(f"The key-encryption key is unavailable: {exc}") from None
