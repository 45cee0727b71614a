"""Time as Coinbase writes it (RFC 3339, microseconds, Z)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
