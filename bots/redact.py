"""Webhook tokens never reach a log: the URL `/hooks/bots/<token>` is the secret.

`HookTokenFilter` (installed on the console handler by settings.LOGGING) rewrites every record
that mentions a hook URL: its message, its rendered traceback, and the request Django attaches
for error reports (dropped, so a report handler cannot print the path). `install()` (from the
bots app's `ready()`) also puts the filter on the loggers that servers give handlers of their
own (uvicorn's and granian's access logs), and redacts Daphne's access log, which Daphne writes
straight to its stream rather than through `logging`.

Imports nothing from Django: settings.LOGGING loads it before the apps are ready.
"""

from __future__ import annotations

import logging
import re
from typing import Any

HOOK_PATH = re.compile(r"(/hooks/bots/)[^/\s?#\"']+")
MARKER = "/hooks/bots/"
# Loggers that servers configure with handlers of their own, so the console filter never sees them.
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error", "granian.access", "granian", "daphne", "django.channels.server")


def redact(text: str) -> str:
    """`text` with the token of every hook URL replaced."""
    return HOOK_PATH.sub(r"\1[redacted]", text) if MARKER in text else text


class HookTokenFilter(logging.Filter):
    """Redacts hook tokens from a record; never drops the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record: leave it to the handler to report
            return True
        if MARKER in message:
            record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and MARKER in record.exc_text:
            record.exc_text = redact(record.exc_text)
        if MARKER in str(getattr(getattr(record, "request", None), "path", "")):
            record.request = None  # error reports (AdminEmailHandler) render the request's URL
        return True


def install() -> None:
    """Redact on the servers' own loggers and in Daphne's access log (idempotent)."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, HookTokenFilter) for existing in logger.filters):
            logger.addFilter(HookTokenFilter())
    _daphne_access_log()


def _daphne_access_log() -> None:
    try:
        from daphne.access import AccessLogGenerator
    except ImportError:
        return
    if getattr(AccessLogGenerator, "tw_redacted", False):
        return
    original = AccessLogGenerator.write_entry

    def write_entry(self: Any, host: Any, date: Any, request: str, *args: Any, **kwargs: Any) -> Any:
        return original(self, host, date, redact(request), *args, **kwargs)

    AccessLogGenerator.write_entry = write_entry  # type: ignore[method-assign]
    AccessLogGenerator.tw_redacted = True  # type: ignore[attr-defined]
