"""The event catalogue: every WebSocket event name and the envelope, in one place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

READY = "ready"
ERROR = "error"


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def envelope(event: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"event": event, "data": data, "ts": now_iso()}


def error(code: str, message: str) -> dict[str, Any]:
    return envelope(ERROR, {"code": code, "message": message})
