"""The adapter's long-lived pair of OpenD connections: a trade context and a quote context.

futu's context constructors connect synchronously and, while OpenD is unreachable or does not
answer InitConnect, retry forever (every 6 s). So OpenD's port is probed first, each constructor
runs in a helper thread against a deadline, and past it the half-built context is closed, which
ends its retry loop; the caller gets a bounded BrokerUnavailable. A context that dropped (futu
would reconnect it on its own 6 s later) is closed and rebuilt at the next call, unlocked again.
A call is never retried here: the platform retries temporary errors, and an order is never resent.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from brokers.adapters.base import AuthenticationFailed, BrokerUnavailable
from brokers.adapters.moomoo.errors import OpenDFailure
from brokers.adapters.moomoo.payloads import MARKETS, Market
from brokers.adapters.moomoo.sdk import futu

CONNECT_SECONDS = 5.0


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    market: Market
    trade_password: str
    paper: bool

    @property
    def trd_env(self) -> str:
        return "SIMULATE" if self.paper else "REAL"


def settings_from(credentials: Mapping[str, str], *, paper: bool) -> Settings:
    """The connection's settings; AuthenticationFailed when they cannot name an OpenD account."""
    market = MARKETS.get((credentials.get("market") or "US").strip().upper())
    if market is None:
        raise AuthenticationFailed("Market must be US or HK.")
    try:
        port = int(credentials.get("port") or 11111)
    except ValueError:
        raise AuthenticationFailed("The OpenD port must be a number.") from None
    host = (credentials.get("host") or "127.0.0.1").strip()
    return Settings(host, port, market, credentials.get("trade_password") or "", paper)


class Gateway:
    """Opens, checks and rebuilds the two contexts; `on_trade_context` prepares each new trade context."""

    def __init__(
        self, settings: Settings, *, on_trade_context: Callable[[Any], None], connect_seconds: float = CONNECT_SECONDS
    ) -> None:
        self.settings = settings
        self.connect_seconds = connect_seconds
        self.acc_id = 0
        self._on_trade_context = on_trade_context
        self._lock = threading.RLock()
        self._trade: Any = None
        self._quote: Any = None

    @property
    def account(self) -> dict[str, Any]:
        """The arguments that address our account in every futu trade call."""
        return {"trd_env": self.settings.trd_env, "acc_id": self.acc_id}

    def trade(self) -> Any:
        with self._lock:
            if not _ready(self._trade):
                self._close(self._trade)
                self._trade = None
                self._trade = self._open_trade()
            return self._trade

    def quote(self) -> Any:
        with self._lock:
            if not _ready(self._quote):
                self._close(self._quote)
                self._quote = None
                self._quote = self._open(_quote_class(), security_firm="FUTUINC")
            return self._quote

    def call(
        self, context: str, method: str, *args: Any, account: bool = False, failure: type = OpenDFailure, **kw: Any
    ) -> Any:
        """futu's `(ret, data)` as data, or `failure(message)`; `account` addresses our account. A call cut
        short by OpenD's drop fails ("Disconnect"): the next one reconnects. Nothing is ever resent."""
        ctx = self.trade() if context == "trade" else self.quote()
        if account:
            kw.update(self.account)
        ret, data = getattr(ctx, method)(*args, **kw)
        if ret != 0:
            raise failure(str(data))
        return data

    def close(self) -> None:
        with self._lock:
            for ctx in (self._trade, self._quote):
                self._close(ctx)
            self._trade = self._quote = None

    # -- opening ----------------------------------------------------------------------------------

    def _open_trade(self) -> Any:
        settings = self.settings
        ctx = self._open(_trade_class(), filter_trdmarket=settings.market.name, security_firm="FUTUINC")
        try:
            self._on_trade_context(ctx)
            self.acc_id = self.acc_id or self._choose_account(ctx)
            if not settings.paper and settings.trade_password:
                _checked(ctx.unlock_trade(password=settings.trade_password))
        except BaseException:
            self._close(ctx)
            raise
        return ctx

    def _open(self, factory: type, **kwargs: Any) -> Any:
        settings, deadline = self.settings, time.monotonic() + self.connect_seconds
        _probe(settings.host, settings.port, self.connect_seconds)
        opening = _Opening(
            lambda started: factory(started=started, host=settings.host, port=settings.port, is_encrypt=False, **kwargs)
        )
        ctx = opening.wait(max(deadline - time.monotonic(), 0.1))
        if ctx is None:
            raise BrokerUnavailable(
                f"OpenD at {settings.host}:{settings.port} accepted the connection but did not complete the "
                f"handshake within {self.connect_seconds:g} s."
            )
        ctx.set_sync_query_connect_timeout(self.connect_seconds)
        return ctx

    def _choose_account(self, ctx: Any) -> int:
        """The account of our environment that futu lists for this market (the first stock account)."""
        table = _checked(ctx.get_acc_list())
        rows = [row for row in table.to_dict("records") if row["trd_env"] == self.settings.trd_env]
        stock = [row for row in rows if row.get("sim_acc_type") in ("STOCK", "STOCK_AND_OPTION", "N/A")]
        chosen = (stock or rows or [None])[0]
        if chosen is None:
            kind = "paper" if self.settings.paper else "real"
            raise OpenDFailure(f"No available {kind} account with {self.settings.market.name} market authority")
        return int(chosen["acc_id"])

    @staticmethod
    def _close(ctx: Any) -> None:
        if ctx is not None:
            with contextlib.suppress(Exception):
                ctx.close()  # also stops futu's own reconnect timer


class _Opening:
    """A context constructor running in a helper thread; what it built after we gave up is closed."""

    def __init__(self, build: Callable[[Callable[[Any], None]], Any]) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._started: list[Any] = []
        self._built: list[Any] = []
        self._error: list[BaseException] = []
        self._abandoned = False
        threading.Thread(target=self._run, args=(build,), name="opend-connect", daemon=True).start()

    def _run(self, build: Callable[[Callable[[Any], None]], Any]) -> None:
        try:
            ctx = build(self._started.append)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting caller
            self._error.append(exc)
            ctx = None
        with self._lock:
            late = self._abandoned and ctx is not None
            if ctx is not None and not late:
                self._built.append(ctx)
        if late:
            Gateway._close(ctx)
        self._done.set()

    def wait(self, seconds: float) -> Any:
        self._done.wait(seconds)
        with self._lock:
            if self._error:
                raise self._error[0]
            if self._built:
                return self._built[0]
            self._abandoned = True
        for ctx in self._started:  # ends the constructor's retry loop (auto-reconnect off)
            Gateway._close(ctx)
        return None


def _probe(host: str, port: int, seconds: float) -> None:
    """OpenD's port answers, or a BrokerUnavailable in `seconds` (futu itself would wait forever)."""
    try:
        with socket.create_connection((host, port), timeout=seconds):
            return
    except OSError as exc:
        raise BrokerUnavailable(f"OpenD is not reachable at {host}:{port} ({exc.strerror or exc}).") from exc


def _ready(ctx: Any) -> bool:
    return ctx is not None and ctx.status == "READY"


def _checked(answer: tuple[int, Any]) -> Any:
    ret, data = answer
    if ret != 0:
        raise OpenDFailure(str(data))
    return data


@functools.cache
def _trade_class() -> type:
    sdk = futu()

    class TradeContext(sdk.OpenSecTradeContext):  # type: ignore[misc, name-defined]
        """OpenSecTradeContext that hands itself out before connecting, so a stuck connect can be closed."""

        def __init__(self, *, started: Callable[[Any], None], **kwargs: Any) -> None:
            started(self)
            super().__init__(**kwargs)

    return TradeContext


@functools.cache
def _quote_class() -> type:
    sdk = futu()

    class QuoteContext(sdk.OpenQuoteContext):  # type: ignore[misc, name-defined]
        def __init__(self, *, started: Callable[[Any], None], **kwargs: Any) -> None:
            started(self)
            super().__init__(**kwargs)

    return QuoteContext
