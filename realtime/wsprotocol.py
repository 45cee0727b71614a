"""uvicorn's WebSocket protocol, writing a run of frames to one socket with one system call.

`uvicorn --ws realtime.wsprotocol:CoalescingWebSocketsProtocol --ws-per-message-deflate false
--timeout-graceful-shutdown 5 config.asgi:application` (UVICORN_OPTIONS below; README "Production").

The hub hands a socket every quote of a poll at once (20 frames for a 20-symbol watchlist), and
uvicorn writes each ASGI `websocket.send` to the socket at once: one system call and one TCP
segment per frame, which costs more CPU than everything else about the frame (README
"Benchmarks"). Here a run of writes to one socket is joined and handed to the transport in one
system call: the same bytes in the same order, passed on when something else is written or at
the end of the loop turn. Closing flushes first, so a close frame still follows the frames before
it. Flow control is untouched: the real transport still pauses and resumes the protocol.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

# How production runs uvicorn for /ws/. Per-message deflate is declined: it cost more CPU per
# quote frame than all the rest of the frame's delivery and ~47 KB of memory per socket, to
# save about 150 bytes a frame (README "Benchmarks"). A stop waits at most 5 s for the sockets'
# consumers: channels-redis can lose a consumer's cancellation when it lands as its BZPOPMIN read
# times out, and the receive then loops on, holding a plain graceful stop open for ever.
UVICORN_OPTIONS = (
    *("--ws", "realtime.wsprotocol:CoalescingWebSocketsProtocol"),
    *("--ws-per-message-deflate", "false"),
    *("--timeout-graceful-shutdown", "5"),
)

# An ASGI extension (scope["extensions"]) this protocol offers on /ws/: a callable that writes a
# text frame at once, without a task switch, and returns False when the app must use `send`
# instead (socket not open, or paused by flow control). The quote hub uses it for idle sockets.
SEND_NOWAIT = "tradewire.websocket.send_nowait"

# The one transport in this thread's event loop whose writes are being held.
_held = threading.local()


class CoalescingTransport:
    """Holds a run of writes to one socket and passes it on as one write; all else goes through.

    A run ends when a write for another socket comes (the hub's writer tasks each write a
    socket's frames back to back, so each socket gets its bytes as soon as its turn is over)
    or, at the latest, at the end of the loop turn."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        held = getattr(_held, "transport", None)
        if held is not self:
            if held is not None:
                held.flush()
            _held.transport = self
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if getattr(_held, "transport", None) is self:
            _held.transport = None
        if not self._pending:
            return
        data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingWebSocketsProtocol(WebSocketsSansIOProtocol):
    """Also offers the app SEND_NOWAIT in `scope["extensions"]`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(CoalescingTransport(cast(asyncio.Transport, transport), self.loop))  # type: ignore[arg-type]

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # none when the handshake was refused
        if scope is not None:
            scope["extensions"][SEND_NOWAIT] = self.send_text_nowait

    def send_text_nowait(self, text: str) -> bool:
        """Write a text frame now if the socket is open and not paused by flow control."""
        if not self.handshake_complete or self.close_sent or not self.writable.is_set():
            return False
        if self.conn.state is not State.OPEN or self.transport.is_closing():
            return False
        self.conn.send_text(text.encode())
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True
