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


TEARDOWN_SECONDS = 3.0


def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    """Like asyncio.run, but the teardown is bounded.

    Some library tasks left running (the channel layer's blocking receive) can swallow a
    cancellation; asyncio.run would then wait for them forever. Give them a few seconds.
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_with_cleanup(coro))
    finally:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=TEARDOWN_SECONDS))
        loop.run_until_complete(asyncio.wait_for(loop.shutdown_asyncgens(), TEARDOWN_SECONDS))
        loop.close()
