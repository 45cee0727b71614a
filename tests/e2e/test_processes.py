"""The real processes: the run command's stack, and /health when the database is gone."""

import os
import signal
import subprocess
import sys

import httpx
import psutil
import pytest

from config.embedded import free_port
from tests.processes import BASE_DIR, asgi_server, get_json, stop, wait_for

pytestmark = pytest.mark.e2e


def test_health_is_503_unhealthy_when_the_database_is_unreachable(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/missing-dir/db.sqlite3", "DATA_DIR": str(tmp_path)}
    with asgi_server(env) as base:
        status, body = get_json(f"{base}/health")
    assert status == 503
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"] == "error"


def test_the_run_command_serves_login_and_health_and_stops_everything_on_ctrl_c(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    port = free_port()
    env.update(DATA_DIR=str(tmp_path), PORT=str(port), DEMO_PASSWORD="demo-pass-123")
    proc = subprocess.Popen(
        [sys.executable, "-m", "config.runner"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        body = wait_for(
            lambda: get_json(f"{base}/health")[1]["status"] == "healthy" and get_json(f"{base}/health")[1],
            timeout=120,
            interval=1,
            what="healthy /health",
        )
        assert body["checks"] == {"database": "ok", "redis": "ok", "celery": "ok"}
        login = httpx.get(f"{base}/accounts/login/", timeout=10)
        assert login.status_code == 200 and 'name="login"' in login.text
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 4  # redis, web, worker, beat
        assert (tmp_path / "db.sqlite3").exists()
    finally:
        stop(proc, signal.SIGINT, timeout=30)
    output = proc.stdout.read()
    assert "Demo login: demo@example.com / demo-pass-123" in output
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"still running after Ctrl-C: {[p.pid for p in alive]}"
