"""What every broker simulator shares: a loopback server in a thread, routing, and injected faults.

A simulator speaks one broker's wire protocol to that broker's unmodified SDK, keeps a consistent
account (orders, fills, balances, positions) and checks authentication as the broker does. Tests
drive it in-process (`sim.set_price(...)`, `sim.fill(...)`, `sim.faults.add(...)`) while the SDK
talks to it over a real socket.

Faults are one-shot (or `times=n`) and apply to the next matching requests:

- `rate_limit`: answer with the broker's own 429 (or its equivalent) body;
- `server_error`: answer 5xx;
- `timeout`: hold the request for `seconds`, then drop the connection unanswered;
- `drop_response`: process the request (an order IS placed), then close the connection without
  answering, as when a response is lost on the way back;
- `duplicate_fill`: the next fill is reported twice (same execution id);
- `disconnect`: (socket protocols) close the client's connection now.

A fault may be limited to requests whose path (or message name) matches `match`.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FAULT_KINDS = ("rate_limit", "server_error", "timeout", "drop_response", "duplicate_fill", "disconnect")


@dataclass
class Fault:
    kind: str
    match: str = ""  # a regular expression searched in the request path / message name; "" matches all
    times: int = 1
    seconds: float = 0.0  # for `timeout`
    status: int = 0  # for `server_error` (default 503) or a custom `rate_limit` status


class Faults:
    """Thread-safe one-shot faults, consumed by the requests they apply to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []

    def add(self, kind: str, *, match: str = "", times: int = 1, seconds: float = 0.0, status: int = 0) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        with self._lock:
            self._pending.append(Fault(kind, match, times, seconds, status))

    def take(self, target: str, kinds: tuple[str, ...] = FAULT_KINDS) -> Fault | None:
        """The first pending fault of `kinds` that applies to `target`, consumed once."""
        with self._lock:
            for fault in self._pending:
                if fault.kind in kinds and (not fault.match or re.search(fault.match, target)):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._pending.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()


# --- HTTP simulators -------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named groups of the route's pattern
    client: tuple[str, int] = ("127.0.0.1", 0)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    @property
    def target(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-serialisable (Decimals become strings), bytes, or None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, default=_json_default).encode()


class DropConnection(Exception):
    """Raised by a handler (or a fault) to close the connection without an answer."""


Handler = Callable[[Request], Response]


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class HttpSimulator:
    """Base of the HTTP simulators: subclass, add routes in `__init__`, override `fault_response`.

    `route("GET", r"/v2/orders/(?P<order_id>[^/]+)", handler)`; patterns match the whole path.
    Handlers run one at a time (`self.lock`), so the account stays consistent under parallel calls.
    """

    name = "simulator"
    poll_interval = 0.5  # seconds `stop()` may wait for the server loop to notice (socketserver's default)

    def __init__(self) -> None:
        self.faults = Faults()
        self.lock = threading.RLock()
        self.requests: list[Request] = []  # every request seen, for assertions
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- routing ---------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern), handler))

    def dispatch(self, request: Request) -> Response:
        for method, pattern, handler in self._routes:
            found = pattern.fullmatch(request.path)
            if found and method == request.method:
                request.params = {k: v for k, v in found.groupdict().items() if v is not None}
                with self.lock:
                    return handler(request)
        return self.not_found(request)

    def not_found(self, request: Request) -> Response:
        return Response(404, {"message": f"no route for {request.target}"})

    def fault_response(self, fault: Fault, request: Request) -> Response:
        """The broker's own answer for an injected `rate_limit` or `server_error`; override per broker."""
        if fault.kind == "rate_limit":
            return Response(fault.status or 429, {"message": "rate limit exceeded"}, {"Retry-After": "1"})
        return Response(fault.status or 503, {"message": "service unavailable"})

    def handle(self, request: Request) -> Response:
        """Faults first, then the route; raises DropConnection to answer nothing."""
        self.requests.append(request)
        fault = self.faults.take(request.target, ("rate_limit", "server_error", "timeout", "drop_response"))
        if fault is None:
            return self.dispatch(request)
        if fault.kind == "timeout":
            time.sleep(fault.seconds)
            raise DropConnection
        if fault.kind == "drop_response":
            self.dispatch(request)  # the broker acted on it; its answer is lost
            raise DropConnection
        return self.fault_response(fault, request)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the simulator first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> HttpSimulator:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": self.poll_interval}, name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HttpSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_class(sim: HttpSimulator) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' sessions expect
        # Headers and body leave in two writes: without TCP_NODELAY, Nagle's algorithm holds the
        # body until the client's delayed ACK (~40 ms per request on loopback).
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
                client=self.client_address,
            )
            try:
                response = sim.handle(request)
            except DropConnection:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            body = response.encoded()
            self.send_response(response.status)
            headers = {"Content-Type": "application/json", **response.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return _Handler


# --- socket simulators -----------------------------------------------------------------------


class SocketSimulator:
    """Base of the binary-protocol simulators (TWS API, OpenD): one thread per client connection.

    Subclasses implement `serve(conn)`, reading and writing frames until the client leaves;
    `drop_clients()` closes every open connection (a gateway restart).
    """

    name = "socket-simulator"

    def __init__(self) -> None:
        self.faults = Faults()
        self.lock = threading.RLock()
        self._listener: socket.socket | None = None
        self._clients: set[socket.socket] = set()
        self._accepting = threading.Event()

    @property
    def port(self) -> int:
        assert self._listener is not None, "start() the simulator first"
        return int(self._listener.getsockname()[1])

    def start(self, port: int = 0) -> SocketSimulator:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        self._listener = listener
        self._accepting.set()
        threading.Thread(target=self._accept_loop, name=self.name, daemon=True).start()
        return self

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while self._accepting.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self._clients.add(conn)
            threading.Thread(target=self._serve_one, args=(conn,), daemon=True).start()

    def _serve_one(self, conn: socket.socket) -> None:
        try:
            self.serve(conn)
        except (OSError, ConnectionError, DropConnection):
            pass
        finally:
            with self.lock:
                self._clients.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def drop_clients(self) -> None:
        with self.lock:
            clients = list(self._clients)
        for conn in clients:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._accepting.clear()
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone leaves the port listening.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None
        self.drop_clients()

    def __enter__(self) -> SocketSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def recv_exact(conn: socket.socket, size: int) -> bytes:
    """Exactly `size` bytes from `conn`; ConnectionError when the peer closes first."""
    chunks, remaining = [], size
    while remaining:
        chunk = conn.recv(remaining)
        if not chunk:
            raise ConnectionError("peer closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def running(sim: Any) -> Iterator[Any]:
    """`with running(AlpacaSimulator()) as sim:` starts and always stops it."""
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()
