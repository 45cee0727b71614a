"""Times as the API and the events carry them: ISO-8601 in UTC with `Z`, in one place."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(moment: datetime) -> str:
    """`2026-12-05T14:30:07.123456Z` for an aware datetime (converted to UTC first)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def now_iso() -> str:
    return iso_utc(datetime.now(UTC))
