import pytest

from config.celery import WORKERS_KEY
from config.redis import get_redis

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_worker_heartbeat():
    import time

    get_redis().zadd(WORKERS_KEY, {"test-worker": time.time()})
    yield
    get_redis().zrem(WORKERS_KEY, "test-worker")


def test_it_reports_the_contract_shape(client, live_worker_heartbeat):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["checks"] == {"database": "ok", "redis": "ok", "celery": "ok"}
    assert body["timestamp"].endswith("Z")
    assert isinstance(body["uptime"], float)
    assert body["memory"]["rss"] > 10_000_000 and body["memory"]["peak_rss"] >= body["memory"]["rss"]
    ws = body["websocket"]
    contract = {"initialized", "totalConnections", "activeConnections", "uniqueUsers", "redisAdapter", "uptime"}
    assert set(ws) == contract | {"quoteFramesSent", "quoteFramesCoalesced"}  # the contract allows more
    assert ws["initialized"] is True and ws["redisAdapter"] is True


def test_it_is_degraded_without_a_live_worker(client):
    get_redis().delete(WORKERS_KEY)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["celery"] == "error"


def test_it_is_public_and_not_cached(client):
    response = client.get("/health")
    assert "no-cache" in response["Cache-Control"]
