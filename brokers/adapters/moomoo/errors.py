"""OpenD's failures into ours. futu-api never raises: every call answers `(ret, data)`, with
`ret == RET_ERROR` and a message (OpenD's own words, in the language OpenD is set to, or the SDK's:
"Disconnect", "Connection closed", "PacketErr.Timeout"). The adapter raises `OpenDFailure(message)` for
each, and this translator chooses our error by the message."""

from __future__ import annotations

import re

from brokers.adapters.base import (
    AuthenticationFailed,
    BrokerError,
    BrokerUnavailable,
    InsufficientFunds,
    InvalidSymbol,
    OrderNotFound,
    OrderRejected,
    RateLimited,
)
from brokers.adapters.translate import Translator, by_message, vendor_message


class OpenDFailure(Exception):
    """A futu-api call answered RET_ERROR with this message."""


class OrderCallFailure(OpenDFailure):
    """A place/modify/cancel call failed: what no rule recognises is the order being rejected."""


# OpenD counts each protocol per 30 seconds ("... at most 15 requests per 30 seconds ...").
RATE = re.compile(r"frequen|too many requests|rate limit|频率|频繁", re.IGNORECASE)
WINDOW = re.compile(r"(\d+)\s*requests?\s*(?:per|every|in)\s*(\d+)\s*s", re.IGNORECASE)
MESSAGES: tuple[tuple[str, type[BrokerError]], ...] = (
    # The SDK's own words when the socket went away or OpenD did not answer, and OpenD's backend timeout.
    (
        r"disconnect|connection (?:lost|closed|refused)|not connected|context status bad|connect timeout"
        r"|timeout|timed out|NN_ProtoRet|network (?:error|unavailable)|server busy|网络|超时|断开",
        BrokerUnavailable,
    ),
    (r"order (?:does not|doesn't) exist|order not found|no such order|订单不存在", OrderNotFound),
    (
        r"password|unlock|密码|解锁|no (?:one )?available (?:real |paper )?accounts?|securities firm"
        r"|acc_id|not logged in|login",
        AuthenticationFailed,
    ),
    (r"insufficient (?:buying power|funds|cash)|buying power|购买力不足|资金不足", InsufficientFunds),
    (
        r"unknown (?:stock|security|code)|未知股票|股票代码|(?:stock|security) (?:code )?(?:does not|doesn't) exist"
        r"|format of .+ is wrong|invalid (?:stock )?code",
        InvalidSymbol,
    ),
)


def rate_limited(exc: BaseException) -> BrokerError | None:
    """RateLimited for OpenD's frequency answer, waiting one window slot (30 s / the limit)."""
    message = vendor_message(exc)
    if not RATE.search(message):
        return None
    window = WINDOW.search(message)
    retry_after = int(window.group(2)) / max(int(window.group(1)), 1) if window else 3.0
    return RateLimited(message, retry_after=retry_after)


TRANSLATOR = Translator(
    "Moomoo",
    rules=(
        (OpenDFailure, rate_limited),
        (OpenDFailure, by_message(MESSAGES)),
        (OrderCallFailure, OrderRejected),
        (OpenDFailure, BrokerError),
        (OSError, BrokerUnavailable),
    ),
)
