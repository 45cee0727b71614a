"""Threads the IB adapter runs on: one asyncio loop for ib_async, one thread for listeners.

ib_async is asyncio-based and not thread-safe: its `IB` lives on a private event loop in a
dedicated thread, and every synchronous adapter call is marshalled onto that loop with a bounded
wait (no nest_asyncio in the caller's thread). Push listeners run on a separate thread, in order,
so a listener may call back into the adapter without deadlocking the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


class LoopThread:
    """An event loop running forever in a daemon thread, until `stop()`."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `coro` on the loop and wait at most `timeout` s; TimeoutError cancels it there."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a blocking adapter call from the adapter's own event loop")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout:g} s") from None

    def stop(self, timeout: float = 5.0) -> None:
        if not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)


class Dispatcher:
    """Calls listeners with pushed values, one at a time, on its own thread."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[Any], None], Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            listener, value = item
            try:
                listener(value)
            except Exception:
                logger.exception("IB order listener failed")

    def put(self, listener: Callable[[Any], None], value: Any) -> None:
        self._queue.put((listener, value))

    def stop(self) -> None:
        self._queue.put(None)
