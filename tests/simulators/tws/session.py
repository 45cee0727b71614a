"""One API client's connection to the simulated gateway: handshake, pacing, and what it subscribed to.

Handshake (TWS API, https://interactivebrokers.github.io/tws-api/, and ib_async's
`Client.connectAsync`/`_onSocketHasData`): the client sends `API\\0`
then a frame `v{min}..{max}[ options]`; the gateway answers a frame of two fields, the server
version it picked and the connection time. Then the client sends `startApi` (71) with its
client id, and the gateway answers `nextValidId` (9) and `managedAccounts` (15). A client id
already connected is refused with error 326 and the socket is closed.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.simulators.base import DropConnection, recv_exact
from tests.simulators.tws import wire

MIN_SERVER_VERSION = 157
MAX_MESSAGES_PER_SECOND = 50  # TWS API pacing: more is error 100 and a disconnect


@dataclass
class Session:
    conn: socket.socket
    version: int = 0
    client_id: int = -1
    account_updates: bool = False
    positions: bool = False
    silent: bool = False  # a `timeout` fault: the gateway stopped answering
    closed: bool = False
    _send_lock: threading.Lock = field(default_factory=threading.Lock)
    _times: deque[float] = field(default_factory=deque)

    def send(self, *messages: list[Any]) -> None:
        if self.silent or self.closed:
            return
        data = b"".join(wire.frame(message) for message in messages)
        with self._send_lock, contextlib.suppress(OSError):
            self.conn.sendall(data)

    def error(self, req_id: int, code: int, text: str) -> None:
        self.send(wire.error(req_id, code, text, self.version))

    def hang_up(self) -> None:
        """Close after what was sent is delivered: stop writing, drain what the client still sends, then drop.

        (Closing with unread input makes the kernel reset the connection, which can destroy the
        last answer, e.g. error 100 or 326, before the client reads it.)
        """
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_WR)
            self.conn.settimeout(0.5)
            while self.conn.recv(65536):
                pass
        raise DropConnection

    def over_pace(self) -> int:
        """How many messages arrived in the last second, when more than TWS accepts (else 0)."""
        now = time.monotonic()
        self._times.append(now)
        while self._times and now - self._times[0] > 1.0:
            self._times.popleft()
        return len(self._times) if len(self._times) > MAX_MESSAGES_PER_SECOND else 0


def handshake(session: Session, max_version: int) -> None:
    """Read `API\\0` + the version range and answer the version picked; DropConnection if none fits."""
    if recv_exact(session.conn, 4) != b"API\0":
        raise DropConnection
    (size,) = struct.unpack(">I", recv_exact(session.conn, 4))
    text = recv_exact(session.conn, size).decode(errors="replace").rstrip("\0")  # not NUL-terminated
    found = re.fullmatch(r"v(\d+)(?:\.\.(\d+))?(?: .*)?", text)
    if not found:
        raise DropConnection
    low, high = int(found[1]), int(found[2] or found[1])
    version = min(high, max_version)
    if version < max(low, MIN_SERVER_VERSION):
        raise DropConnection  # TWS closes on a range it cannot serve
    session.version = version
    session.send([version, wire.ib_time(datetime.now(UTC))])
