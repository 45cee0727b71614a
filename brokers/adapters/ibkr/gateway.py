"""The adapter's one API connection to the user's IB Gateway/TWS, driven on the adapter's event loop.

- Client ids: TWS accepts one connection per client id and refuses a second with error 326
  before closing the socket, which ib_async's `connect()` only reports as a timeout. The id is
  the connection's own (`client_id` credential), else derived from our connection id, so two
  connections to one gateway never collide; a connection test takes a random id from a range
  reserved for tests. A refusal is reported as such, without waiting for the timeout.
- Pacing: TWS accepts 50 messages a second per client (ib_async throttles near 45); beyond,
  it sends error 100 and disconnects: the call fails with RateLimited.
- Error 1100 (the gateway lost IB's servers) fails waiting calls at once until 1101/1102.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ib_async import IB, Trade

from brokers.adapters.base import AuthenticationFailed, BrokerError, BrokerUnavailable, RateLimited
from brokers.adapters.ibkr.payloads import FEE_GRACE

T = TypeVar("T")
DERIVED_BASE = 100_000  # derived ids sit far above the small ids people give their own API clients
TEST_IDS = (1_900_000_000, 2_000_000_000)  # connection tests: random ids from this range
MAX_CLIENT_ID = 2**31 - 1
RETRY_AFTER_FAILURE = 1.0  # seconds; the platform adds its own backoff between failing calls
LOST = "IB Gateway/TWS has lost its connection to IB's servers (IB error 1100); try again shortly."
NOT_LISTENING = (
    "IB Gateway/TWS is not accepting connections at the configured host and port: is it running, "
    "with 'Enable ActiveX and Socket Clients' on, and is the port right (4001/4002 IB Gateway, 7496/7497 TWS)?"
)


class GatewaySilent(BrokerUnavailable):
    """The socket is open but the gateway did not answer in time (hung, or a half-open connection)."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    client_id: int
    account: str
    paper: bool


def endpoint(credentials: Mapping[str, str], *, paper: bool, connection_id: int | None) -> Endpoint:
    """Where and as whom to connect; a bad port or client id is a configuration the gateway would refuse."""
    host = (credentials.get("host") or "127.0.0.1").strip()
    port = _number(credentials.get("port") or "4002", "port", 1, 65535)
    raw = (credentials.get("client_id") or "").strip()
    if raw:
        client_id = _number(raw, "client id", 0, MAX_CLIENT_ID)
    elif connection_id is not None:
        client_id = DERIVED_BASE + connection_id
    else:
        client_id = TEST_IDS[0] + secrets.randbelow(TEST_IDS[1] - TEST_IDS[0])
    return Endpoint(host, port, client_id, (credentials.get("account") or "").strip(), paper)


def _number(text: str, what: str, low: int, high: int) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise AuthenticationFailed(f"The gateway {what} must be a whole number from {low} to {high}.")
    return value


class Gateway:
    """Owns the `IB` object; every method runs on the adapter's event loop."""

    def __init__(
        self,
        where: Endpoint,
        *,
        connect_timeout: float,
        on_trade: Callable[[Trade], None],
        on_sync: Callable[[], None],
    ) -> None:
        self.where = where
        self.connect_timeout = connect_timeout
        self.account = ""
        self._on_trade, self._on_sync = on_trade, on_sync
        self._ib: IB | None = None
        self._lock = asyncio.Lock()
        self._lost = asyncio.Event()
        self._paced_at = -1e9  # loop time of the last error 100
        self._losses = 0  # errors 1100 so far: a wait fails if one arrives, even if 1102 follows at once
        self._failure: tuple[float, BrokerError] | None = None
        self._syncing = False  # while ib_async loads orders and executions after a (re)connect

    @property
    def ib(self) -> IB:
        if self._ib is None:
            ib = IB()
            ib.errorEvent += self._on_error
            ib.orderStatusEvent += self._on_status
            ib.execDetailsEvent += self._on_fill
            ib.commissionReportEvent += lambda trade, fill, report: self._on_status(trade)
            ib.connectedEvent += self._on_sync  # after each (re)connect's synchronisation
            self._ib = ib
        return self._ib

    # -- connecting ------------------------------------------------------------------------

    async def ensure(self) -> IB:
        """The connected `IB`, (re)connecting first if the socket is down."""
        ib = self.ib
        if not ib.isConnected():
            async with self._lock:
                if not ib.isConnected():
                    await self._connect_once(ib)
        return ib

    async def _connect_once(self, ib: IB) -> None:
        """Connect; calls queued behind a failed attempt share its error instead of each retrying."""
        now = asyncio.get_running_loop().time()
        if self._failure is not None and now - self._failure[0] < RETRY_AFTER_FAILURE:
            raise type(self._failure[1])(self._failure[1].message)
        try:
            await self._connect(ib)
        except BrokerError as exc:
            self._failure = (asyncio.get_running_loop().time(), exc)
            raise
        self._failure = None

    async def _connect(self, ib: IB) -> None:
        where, loop = self.where, asyncio.get_running_loop()
        refused: asyncio.Future[bool] = loop.create_future()

        def on_error(req_id: int, code: int, text: str, contract: Any) -> None:
            if code == 326 and not refused.done():
                refused.set_result(True)

        def on_api_error(message: str) -> None:  # ib_async: "Peer closed connection. clientId N already in use?"
            if "already in use" in message and not refused.done():
                refused.set_result(True)

        ib.errorEvent += on_error
        ib.client.apiError += on_api_error
        self._lost.clear()
        self._syncing = True
        attempt = asyncio.ensure_future(
            ib.connectAsync(
                where.host, where.port, where.client_id, timeout=self.connect_timeout, account=where.account
            )
        )
        try:
            await asyncio.wait(
                {attempt, refused}, timeout=3 * self.connect_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._syncing = False
            ib.errorEvent -= on_error
            ib.client.apiError -= on_api_error
        await self._settle(attempt, refused.done())
        self._check_account(ib)

    async def _settle(self, attempt: asyncio.Future[Any], refused: bool) -> None:
        if not attempt.done():
            attempt.cancel()
            with contextlib.suppress(BaseException):
                await attempt
        if refused:
            raise BrokerUnavailable(
                f"client id {self.where.client_id} is already in use on the gateway (IB error 326): another API "
                "client is connected with it. Disconnect that client or set a different client id for this connection."
            )
        try:
            attempt.result()
        except (TimeoutError, asyncio.CancelledError) as exc:
            raise BrokerUnavailable(
                f"IB Gateway/TWS did not complete the API handshake within {self.connect_timeout:g} s with client id "
                f"{self.where.client_id}: the gateway may be busy or not logged in, this host may not be a trusted API "
                f"client, or client id {self.where.client_id} may already be in use on the gateway."
            ) from exc
        except OSError as exc:
            raise BrokerUnavailable(NOT_LISTENING) from exc

    def _check_account(self, ib: IB) -> None:
        managed, wanted = ib.managedAccounts(), self.where.account
        account = wanted or (managed[0] if managed else "")
        problem = ""
        if wanted and wanted not in managed:
            problem = "The account set for this connection is not one this gateway's IB login manages."
        elif account.startswith("D") != self.where.paper:  # IB paper accounts are DU…/DF…
            kind, other = ("a paper", "live") if account.startswith("D") else ("a live", "paper")
            problem = f"This gateway is logged in to {kind} account, but the connection is set up as {other}."
        if problem:
            ib.disconnect()
            raise AuthenticationFailed(problem)
        self.account = account

    def disconnect(self) -> None:
        if self._ib is not None:
            self._ib.disconnect()

    # -- waiting -------------------------------------------------------------------------------

    async def call(self, request: Awaitable[T], timeout: float) -> T:
        """Await an ib_async request; fail at once if the gateway drops or loses IB's servers."""
        task, lost = asyncio.ensure_future(request), asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait({task, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if task not in done:
            task.cancel()
            if lost in done:
                raise BrokerUnavailable(LOST)
            raise GatewaySilent(f"IB Gateway/TWS did not answer within {timeout:g} s.")
        try:
            return task.result()
        except ConnectionError as exc:
            raise self.dropped() from exc

    async def until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Wait for pushed messages to make `ready()` true (order acknowledgements, cancels)."""
        loop, losses = asyncio.get_running_loop(), self._losses
        deadline = loop.time() + timeout
        while not ready():
            if not self.ib.isConnected():
                raise self.dropped()
            if self._lost.is_set() or self._losses != losses:
                raise BrokerUnavailable(LOST)
            if loop.time() >= deadline:
                raise BrokerUnavailable(f"IB Gateway/TWS did not confirm within {timeout:g} s; the outcome is unknown.")
            await asyncio.sleep(0.01)

    def dropped(self) -> BrokerError:
        if asyncio.get_running_loop().time() - self._paced_at < 5:
            return RateLimited(
                "IB Gateway/TWS disconnected this client for sending more than 50 messages a second (IB error 100).",
                retry_after=1.0,
            )
        return BrokerUnavailable("The connection to IB Gateway/TWS dropped during the call; the next call reconnects.")

    # -- pushed events ---------------------------------------------------------------------------

    def _on_error(self, req_id: int, code: int, text: str, contract: Any) -> None:
        if code == 100:
            self._paced_at = asyncio.get_running_loop().time()
        elif code in (1100, 2110):
            self._losses += 1
            self._lost.set()
        elif code in (1101, 1102):
            self._lost.clear()

    def _on_status(self, trade: Trade) -> None:
        # The startup sync replays completed orders and executions (commission reports emit events):
        # the half-loaded states are not reported; `on_sync` reports what changed once it is done.
        if not self._syncing:
            self._on_trade(trade)

    def _on_fill(self, trade: Trade, fill: Any) -> None:
        self._on_status(trade)
        # Reported once more when its fee is due, in case the commission report never comes.
        asyncio.get_running_loop().call_later(FEE_GRACE.total_seconds() + 0.05, self._on_status, trade)
