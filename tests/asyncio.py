"""Run async test scenarios from sync tests, releasing the DB connections their threads opened."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from channels.db import database_sync_to_async
from django.db import connections


async def _with_cleanup(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        return await coro
    finally:
        # database_sync_to_async work runs in a shared thread whose connection would
        # otherwise outlive the test and block the test database's teardown.
        await database_sync_to_async(connections.close_all)()


def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(_with_cleanup(coro))
