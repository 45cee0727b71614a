"""The checks behind /health (CONTRACT.md)."""

from __future__ import annotations

import resource
import time
from typing import Any

import psutil
from django.db import connection

from config.celery import HEARTBEAT_TTL_SECONDS, WORKERS_KEY
from config.redis import get_redis
from config.times import now_iso
from realtime.stats import websocket_stats

STARTED_AT = time.monotonic()


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # noqa: BLE001 - any failure means the database is not usable
        return "error"
    return "ok"


def _redis() -> str:
    try:
        get_redis().ping()
    except Exception:  # noqa: BLE001
        return "error"
    return "ok"


def _celery() -> str:
    try:
        alive = get_redis().zcount(WORKERS_KEY, time.time() - HEARTBEAT_TTL_SECONDS, "+inf")
    except Exception:  # noqa: BLE001
        return "error"
    return "ok" if alive else "error"


def _memory() -> dict[str, int]:
    rss = psutil.Process().memory_info().rss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"rss": rss, "peak_rss": max(peak, rss)}


def health_report() -> tuple[dict[str, Any], int]:
    """The /health body and its HTTP status."""
    checks = {"database": _database(), "redis": _redis()}
    checks["celery"] = _celery() if checks["redis"] == "ok" else "error"
    if checks["database"] != "ok":
        status, code = "unhealthy", 503
    elif "error" in checks.values():
        status, code = "degraded", 200
    else:
        status, code = "healthy", 200
    uptime = round(time.monotonic() - STARTED_AT, 1)
    body = {
        "status": status,
        "timestamp": now_iso(),
        "uptime": uptime,
        "memory": _memory(),
        "websocket": websocket_stats(uptime=uptime, redis_ok=checks["redis"] == "ok"),
        "checks": checks,
    }
    return body, code
