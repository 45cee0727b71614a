from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import Tier, User
from accounts.services import api_token_create


@pytest.fixture
def make_user(db):
    counter = iter(range(1, 10_000))

    def make(tier: str = Tier.FREE, email: str | None = None, password: str = "correct-horse-battery") -> User:
        email = email or f"user{next(counter)}@example.com"
        return User.objects.create_user(email=email, password=password, tier=tier)

    return make


@pytest.fixture
def user(make_user) -> User:
    return make_user()


@pytest.fixture
def premium_user(make_user) -> User:
    return make_user(Tier.PREMIUM)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def token_client(premium_user):
    """An API client authenticated as `premium_user` with a real token header."""
    client = APIClient()
    issued = api_token_create(user=premium_user, name="test")
    client.credentials(HTTP_AUTHORIZATION=f"Token {issued.key}")
    client.user = premium_user
    return client


@pytest.fixture(scope="session")
def cli(tmp_path_factory):
    """Run `manage.py` as a real process against its own migrated SQLite database."""
    import os
    import subprocess
    import sys

    from tests.processes import BASE_DIR

    data = tmp_path_factory.mktemp("cli")
    env = {**os.environ, "DATA_DIR": str(data), "DATABASE_URL": f"sqlite:///{data}/db.sqlite3"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
        )

    assert run("migrate", "--noinput").returncode == 0
    return run


@pytest.fixture(autouse=True)
def _vault_key_in_tmp(settings, tmp_path_factory):
    """Never write a key file into the repository's var/ during tests."""
    settings.VAULT_LOCAL_KEY_FILE = str(tmp_path_factory.getbasetemp() / "vault.key")


def pytest_configure(config):
    config.addinivalue_line("markers", "shared_redis: shares Redis with app processes it started; never flushed")


@pytest.fixture(autouse=True)
def _clean_redis(request):
    """Each test starts with an empty Redis database (cache, login throttles, limiter buckets)."""
    from config.nearcache import near_clear_local
    from config.redis import get_redis

    # The browser suite's running app keeps its queue, beat and quote cache across tests.
    if request.node.get_closest_marker("shared_redis") is None:
        get_redis().flushdb()
    # And no process-local copy of a cache entry: a rolled-back test database reuses ids.
    near_clear_local()


@pytest.fixture(autouse=True)
def _paper_market_released():
    """No armed paper-broker fault and no pinned paper price outlives its test."""
    from brokers.adapters.paper import faults, market

    yield
    faults.faults_clear()
    market._PINNED.clear()
