"""Cached API reads stay correct across processes: a change made by one process is seen at once
by a server process that had the old value cached."""

import subprocess
import sys

import httpx
import pytest

from tests.processes import BASE_DIR, app_database, asgi_server, wait_for

pytestmark = pytest.mark.e2e


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, check=True, timeout=120)


def _revoke_all_tokens(env: dict[str, str]) -> None:
    code = (
        "from accounts.models import ApiToken; from accounts.services import api_token_revoke\n"
        "for token in ApiToken.objects.all(): api_token_revoke(token=token)"
    )
    _manage(env, "shell", "-c", code)


def test_a_server_drops_its_cached_token_and_user_when_another_process_changes_them(tmp_path):
    import os

    with app_database(tmp_path) as (env, key), asgi_server(env) as base:
        full_env = {**os.environ, **env}
        headers = {"Authorization": f"Token {key}"}

        def status(path: str, method: str = "GET", **kwargs) -> int:
            return httpx.request(method, base + path, headers=headers, timeout=10, **kwargs).status_code

        configured = httpx.get(f"{base}/api/brokers/user/configured", headers=headers, timeout=10)
        assert configured.status_code == 200 and [c["broker"] for c in configured.json()] == ["paper"]
        # The demo user is premium: a real broker gets past gating to body validation (400).
        assert status("/api/brokers/test", "POST", json={"broker": "alpaca", "credentials": {}}) == 400

        _manage(full_env, "set_tier", "demo@example.com", "free")
        wait_for(
            lambda: status("/api/brokers/test", "POST", json={"broker": "alpaca", "credentials": {}}) == 403,
            timeout=2,
            what="the tier change reaching the server",
        )

        _revoke_all_tokens(full_env)
        wait_for(lambda: status("/api/brokers/user/configured") == 401, timeout=2, what="the revocation")
