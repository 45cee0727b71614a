import base64
import logging
import os
import stat
import subprocess
import sys
from io import StringIO
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection as db
from moto.server import ThreadedMotoServer

from brokers.kek import KeyProvider, KmsKeyProvider, LocalKeyProvider, local_key_id
from brokers.models import BrokerConnection, Credential
from brokers.vault import VaultError, credentials_destroy, credentials_load, credentials_store
from tests.processes import BASE_DIR


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


KEY_A = new_key()
KEY_B = new_key()


def kek_id_of(key: str) -> str:
    return local_key_id(base64.b64decode(key))


def canary() -> str:
    """A secret that cannot appear anywhere by chance."""
    return "tw-canary-" + os.urandom(12).hex()


def flip(data: bytes, index: int) -> bytes:
    altered = bytearray(data)
    altered[index] ^= 0x01
    return bytes(altered)


def rotate() -> str:
    out = StringIO()
    call_command("rotate_kek", stdout=out)
    return out.getvalue().strip()


@pytest.fixture(autouse=True)
def local_kek(settings, tmp_path, monkeypatch):
    """Every test starts under local key A, with its own key file path and no KMS."""
    settings.AWS_KMS_KEY_ID = ""
    settings.AWS_KMS_ENDPOINT_URL = ""
    settings.VAULT_LOCAL_KEY = KEY_A
    settings.VAULT_LOCAL_KEY_FILE = str(tmp_path / "var" / "vault.key")
    monkeypatch.delenv("VAULT_PREVIOUS_LOCAL_KEYS", raising=False)


@pytest.fixture(scope="module")
def kms_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def kms(kms_endpoint, settings, monkeypatch, tmp_path):
    """A boto3 KMS client on moto's real HTTP server, and the vault pointed at the same server."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "NO_PROXY": "127.0.0.1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    settings.AWS_KMS_ENDPOINT_URL = kms_endpoint
    return boto3.client("kms", region_name="us-east-1", endpoint_url=kms_endpoint)


@pytest.fixture
def kms_key(kms, settings) -> str:
    """A fresh KMS key, made the current KEK; returns its ARN."""
    arn = kms.create_key(Description="tradewire vault test")["KeyMetadata"]["Arn"]
    settings.AWS_KMS_KEY_ID = arn
    return arn


@pytest.fixture(params=["local", "kms"])
def kek(request) -> str:
    """Runs a test once under the local KEK and once under KMS."""
    if request.param == "kms":
        request.getfixturevalue("kms_key")
    return request.param


@pytest.fixture
def make_connection(user):
    def make(owner=None, broker: str = "alpaca") -> BrokerConnection:
        return BrokerConnection.objects.create(user=owner or user, broker=broker)

    return make


@pytest.fixture
def connection(make_connection) -> BrokerConnection:
    return make_connection()


def row(connection: BrokerConnection, field: str) -> Credential:
    return Credential.objects.get(connection=connection, field=field)


def context_of(connection: BrokerConnection, field: str) -> dict[str, str]:
    return {"user_id": str(connection.user_id), "connection_id": str(connection.pk), "field": field}


# --- sealing and opening ---------------------------------------------------------------


def test_it_round_trips_credentials_and_skips_empty_values(kek, connection):
    credentials_store(connection=connection, values={"api_key": "AKID123", "api_secret": "s3cr3t/é", "passphrase": ""})

    assert credentials_load(connection=connection) == {"api_key": "AKID123", "api_secret": "s3cr3t/é"}
    assert Credential.objects.filter(connection=connection).count() == 2


def test_it_replaces_what_was_stored_before(connection):
    credentials_store(connection=connection, values={"api_key": "old-key", "api_secret": "old-secret"})
    credentials_store(connection=connection, values={"api_key": "new-key"})

    assert credentials_load(connection=connection) == {"api_key": "new-key"}


def test_it_destroys_credentials(connection, make_connection):
    other = make_connection(broker="kraken")
    credentials_store(connection=connection, values={"api_key": "k", "api_secret": "s"})
    credentials_store(connection=other, values={"api_key": "kept"})

    assert credentials_destroy(connection=connection) == 2
    assert credentials_load(connection=connection) == {}
    assert credentials_load(connection=other) == {"api_key": "kept"}


def test_it_records_the_kek_that_wrapped_each_data_key(connection):
    credentials_store(connection=connection, values={"api_key": "k"})

    assert row(connection, "api_key").kek_id == kek_id_of(KEY_A)
    assert KEY_A not in kek_id_of(KEY_A)


@pytest.mark.parametrize("target", ["another field", "another connection", "another user's connection"])
def test_it_refuses_a_sealed_secret_moved_to_another_row(kek, target, connection, make_connection, make_user):
    destination = {
        "another field": connection,
        "another connection": make_connection(broker="kraken"),
        "another user's connection": make_connection(owner=make_user()),
    }[target]
    sealed = {connection: {"api_key": "victim-key"}}
    sealed.setdefault(destination, {})["api_secret"] = "attacker-secret"
    for owner, values in sealed.items():
        credentials_store(connection=owner, values=values)
    source = row(connection, "api_key")

    Credential.objects.filter(connection=destination, field="api_secret").update(
        ciphertext=source.ciphertext, wrapped_key=source.wrapped_key, kek_id=source.kek_id
    )

    with pytest.raises(VaultError, match="'api_secret'"):
        credentials_load(connection=destination)


class ContextBlindKek(LocalKeyProvider):
    """A KEK that binds nothing, to show the ciphertext's own associated data still refuses a move."""

    def wrap(self, data_key, context):
        return super().wrap(data_key, {})

    def unwrap(self, wrapped, context, key_id):
        return super().unwrap(wrapped, {}, key_id)


def test_it_binds_the_ciphertext_itself_to_its_row(connection, make_connection, monkeypatch):
    blind = ContextBlindKek(keys=[os.urandom(32)])
    monkeypatch.setattr("brokers.vault.kek_current", lambda: blind)
    monkeypatch.setattr("brokers.vault.kek_for", lambda *, kek_id: blind)
    other = make_connection(broker="kraken")
    credentials_store(connection=connection, values={"api_key": "victim-key"})
    credentials_store(connection=other, values={"api_key": "attacker-key"})
    assert credentials_load(connection=other) == {"api_key": "attacker-key"}
    source = row(connection, "api_key")

    Credential.objects.filter(connection=other).update(ciphertext=source.ciphertext, wrapped_key=source.wrapped_key)

    with pytest.raises(VaultError, match="belongs to another row"):
        credentials_load(connection=other)


@pytest.mark.parametrize("column", ["ciphertext", "wrapped_key"])
@pytest.mark.parametrize("index", [0, 20, -1], ids=["nonce", "body", "tag"])
def test_it_refuses_a_tampered_byte(kek, column, index, connection):
    credentials_store(connection=connection, values={"api_key": "tamper-me-please-1234"})
    stored = bytes(getattr(row(connection, "api_key"), column))

    Credential.objects.filter(connection=connection).update(**{column: flip(stored, index)})

    with pytest.raises(VaultError):
        credentials_load(connection=connection)


def test_it_gives_every_secret_its_own_data_key(kek, connection):
    credentials_store(connection=connection, values={"api_key": "same", "api_secret": "same"})
    first, second = row(connection, "api_key"), row(connection, "api_secret")
    credentials_store(connection=connection, values={"api_key": "same"})
    again = row(connection, "api_key")

    assert len({bytes(first.wrapped_key), bytes(second.wrapped_key), bytes(again.wrapped_key)}) == 3
    assert len({bytes(first.ciphertext), bytes(second.ciphertext), bytes(again.ciphertext)}) == 3


def test_it_implements_the_key_provider_protocol(kms_key):
    assert isinstance(LocalKeyProvider(keys=[os.urandom(32)]), KeyProvider)
    assert isinstance(KmsKeyProvider(key=kms_key), KeyProvider)


# --- rotation ----------------------------------------------------------------------------


def test_it_rotates_to_a_new_local_key(connection, make_connection, settings, monkeypatch):
    other = make_connection(broker="kraken")
    credentials_store(connection=connection, values={"api_key": "k1", "api_secret": "s1"})
    credentials_store(connection=other, values={"api_key": "k2"})
    before = {r.pk: (bytes(r.ciphertext), bytes(r.wrapped_key)) for r in Credential.objects.all()}
    settings.VAULT_LOCAL_KEY = KEY_B
    monkeypatch.setenv("VAULT_PREVIOUS_LOCAL_KEYS", f"{new_key()}, {KEY_A}")

    assert rotate() == f"Re-wrapped 3 data keys under {kek_id_of(KEY_B)}."

    after = {r.pk: (bytes(r.ciphertext), bytes(r.wrapped_key)) for r in Credential.objects.all()}
    assert set(Credential.objects.values_list("kek_id", flat=True)) == {kek_id_of(KEY_B)}
    assert all(after[pk][0] == ciphertext and after[pk][1] != wrapped for pk, (ciphertext, wrapped) in before.items())
    assert rotate() == f"Re-wrapped 0 data keys under {kek_id_of(KEY_B)}."
    monkeypatch.delenv("VAULT_PREVIOUS_LOCAL_KEYS")
    assert credentials_load(connection=connection) == {"api_key": "k1", "api_secret": "s1"}
    assert credentials_load(connection=other) == {"api_key": "k2"}


def test_it_needs_the_previous_key_until_rotation_is_done(connection, settings):
    credentials_store(connection=connection, values={"api_key": "k1"})
    settings.VAULT_LOCAL_KEY = KEY_B

    with pytest.raises(VaultError, match="VAULT_PREVIOUS_LOCAL_KEYS"):
        credentials_load(connection=connection)
    with pytest.raises(CommandError, match=kek_id_of(KEY_A)):
        rotate()
    assert row(connection, "api_key").kek_id == kek_id_of(KEY_A)


def test_it_exits_1_with_a_clear_message_on_a_malformed_key(tmp_path):
    bad_key = "bm90LWEtMzItYnl0ZS1rZXk="
    env = {**os.environ, "DATA_DIR": str(tmp_path), "VAULT_LOCAL_KEY": bad_key, "AWS_KMS_KEY_ID": ""}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/db.sqlite3"

    result = subprocess.run(
        [sys.executable, "manage.py", "rotate_kek"], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 1
    assert "VAULT_LOCAL_KEY must hold a 256-bit key encoded as base64" in result.stderr
    assert bad_key not in result.stderr + result.stdout


def test_it_rejects_a_malformed_local_key_without_echoing_it(connection, settings):
    settings.VAULT_LOCAL_KEY = KEY_A[:-8]

    with pytest.raises(ImproperlyConfigured, match="VAULT_LOCAL_KEY") as raised:
        credentials_store(connection=connection, values={"api_key": "k"})
    assert KEY_A[:10] not in str(raised.value)


# --- the local key file --------------------------------------------------------------


@pytest.fixture
def open_umask():
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_it_creates_the_local_key_file_with_mode_0600(connection, make_connection, settings, open_umask):
    settings.VAULT_LOCAL_KEY = ""
    path = Path(settings.VAULT_LOCAL_KEY_FILE)
    assert not path.exists()

    credentials_store(connection=connection, values={"api_key": "k"})
    credentials_store(connection=make_connection(broker="kraken"), values={"api_key": "k"})

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = base64.b64decode(path.read_text())
    assert len(key) == 32
    assert set(Credential.objects.values_list("kek_id", flat=True)) == {local_key_id(key)}
    assert [p.name for p in path.parent.iterdir()] == ["vault.key"]
    assert credentials_load(connection=connection) == {"api_key": "k"}


# --- AWS KMS, over HTTP to moto's server ---------------------------------------------------


def test_it_wraps_data_keys_with_kms_under_the_encryption_context(kms, kms_key, connection):
    credentials_store(connection=connection, values={"api_key": "kms-sealed"})
    stored = row(connection, "api_key")

    assert stored.kek_id == f"kms:{kms_key}"
    opened = kms.decrypt(CiphertextBlob=bytes(stored.wrapped_key), EncryptionContext=context_of(connection, "api_key"))
    assert len(opened["Plaintext"]) == 32
    assert opened["KeyId"] == kms_key
    with pytest.raises(ClientError, match="InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=bytes(stored.wrapped_key), EncryptionContext=context_of(connection, "api_secret"))
    assert credentials_load(connection=connection) == {"api_key": "kms-sealed"}


def test_it_migrates_from_the_local_key_to_kms(kms, connection, settings):
    credentials_store(connection=connection, values={"api_key": "k1", "api_secret": "s1"})
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    settings.AWS_KMS_KEY_ID = arn

    assert rotate() == f"Re-wrapped 2 data keys under kms:{arn}."

    stored = row(connection, "api_key")
    assert stored.kek_id == f"kms:{arn}"
    kms.decrypt(CiphertextBlob=bytes(stored.wrapped_key), EncryptionContext=context_of(connection, "api_key"))
    settings.VAULT_LOCAL_KEY = ""
    assert credentials_load(connection=connection) == {"api_key": "k1", "api_secret": "s1"}
    assert not Path(settings.VAULT_LOCAL_KEY_FILE).exists()


def test_it_rotates_between_kms_keys_named_by_alias(kms, kms_key, connection, settings):
    credentials_store(connection=connection, values={"api_key": "k1"})
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/tradewire-next", TargetKeyId=arn)
    settings.AWS_KMS_KEY_ID = "alias/tradewire-next"

    assert rotate() == f"Re-wrapped 1 data keys under kms:{arn}."
    assert rotate() == f"Re-wrapped 0 data keys under kms:{arn}."
    stored = row(connection, "api_key")
    opened = kms.decrypt(CiphertextBlob=bytes(stored.wrapped_key), EncryptionContext=context_of(connection, "api_key"))
    assert opened["KeyId"] == arn != kms_key
    assert credentials_load(connection=connection) == {"api_key": "k1"}


def test_it_reports_an_unreachable_kms_as_a_vault_error(kms, kms_key, connection, settings):
    credentials_store(connection=connection, values={"api_key": "k1"})
    settings.AWS_KMS_ENDPOINT_URL = "http://127.0.0.1:9"

    with pytest.raises(VaultError, match="KMS Decrypt failed"):
        credentials_load(connection=connection)


# --- plaintext never leaves the vault ------------------------------------------------------


def test_it_keeps_plaintext_out_of_the_database(kek, connection):
    secret = canary()
    credentials_store(connection=connection, values={"api_key": "k", "api_secret": secret})
    needle = secret.encode()

    with db.cursor() as cursor:
        for table in db.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")  # noqa: S608 - names from introspection
            for record in cursor.fetchall():
                for value in record:
                    blob = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                    assert needle not in blob, table
    if db.vendor == "sqlite" and not db.is_in_memory_db():
        for path in Path(db.settings_dict["NAME"]).parent.glob(Path(db.settings_dict["NAME"]).name + "*"):
            assert needle not in path.read_bytes()
    assert credentials_load(connection=connection)["api_secret"] == secret


def test_it_keeps_plaintext_out_of_logs_and_errors(connection, settings, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    secret = canary()
    credentials_store(connection=connection, values={"api_key": secret})
    credentials_load(connection=connection)
    settings.VAULT_LOCAL_KEY = KEY_B
    monkeypatch.setenv("VAULT_PREVIOUS_LOCAL_KEYS", KEY_A)
    rotate()
    stored = row(connection, "api_key")
    Credential.objects.filter(pk=stored.pk).update(ciphertext=flip(bytes(stored.ciphertext), 15))

    with pytest.raises(VaultError) as raised:
        credentials_load(connection=connection)

    message = str(raised.value)
    assert "could not be opened" in message
    assert "failed to open" in caplog.text
    for leak in (secret, KEY_A, KEY_B, bytes(stored.ciphertext).hex(), base64.b64encode(stored.ciphertext).decode()):
        assert leak not in caplog.text
        assert leak not in message
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None
