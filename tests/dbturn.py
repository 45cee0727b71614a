"""Taking turns at the test database between the test thread and app threads (a worker, the gateway host).

pytest-django's SQLite test database is in memory with a shared cache, whose table locks fail
at once ("database table is locked") instead of waiting like the app's SQLite file (WAL and a
busy timeout) does. So on SQLite the app's threads and the test's own database work take
turns; on PostgreSQL they run side by side.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from django.db import connection

DB_TURN = threading.RLock()


def db_turn() -> contextlib.AbstractContextManager[Any]:
    """Hold this around database work in the test thread while app threads run."""
    return DB_TURN if connection.vendor == "sqlite" else contextlib.nullcontext()
