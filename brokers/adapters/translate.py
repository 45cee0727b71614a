"""Vendor failures into our `BrokerError`s, at the adapter's edge: one helper each adapter configures.

An adapter lists its rules once, e.g. for ccxt::

    TRANSLATOR = Translator("Kraken", rules=(
        (ccxt.AuthenticationError, AuthenticationFailed),
        (ccxt.InsufficientFunds, InsufficientFunds),
        (ccxt.DDoSProtection, RateLimited),
        (ccxt.NetworkError, BrokerUnavailable),
    ))

and wraps its public methods with `@TRANSLATOR.edge` (or a block with `with TRANSLATOR.guard():`).
Rules are tried in order, so list subclasses before their bases. A rule's target is an error
class (built with the vendor's message) or a function of the vendor exception returning one of
ours or None (to try the next rule), for vendors whose codes live inside one exception type;
`by_message` builds such a function for SDKs that report failures as text.
Anything no rule matches becomes a permanent `BrokerError` naming the vendor type: never
retried blindly, and never a stack trace in the API.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from typing import ParamSpec, TypeVar

from brokers.adapters.base import BrokerError

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
Target = type[BrokerError] | Callable[[BaseException], BrokerError | None]
Rule = tuple[type[BaseException] | tuple[type[BaseException], ...], Target]
MAX_MESSAGE = 300


def vendor_message(exc: BaseException) -> str:
    """The vendor's own words, trimmed; a bare exception type when it said nothing."""
    text = " ".join(str(exc).split())
    return (text or type(exc).__name__)[:MAX_MESSAGE]


def by_message(
    patterns: Sequence[tuple[str, type[BrokerError]]], *, default: type[BrokerError] | None = None
) -> Callable[[BaseException], BrokerError | None]:
    """A rule target choosing our error by a regular expression over the vendor's message."""
    compiled = [(re.compile(pattern, re.IGNORECASE), error) for pattern, error in patterns]

    def choose(exc: BaseException) -> BrokerError | None:
        message = vendor_message(exc)
        for pattern, error in compiled:
            if pattern.search(message):
                return error(message)
        return default(message) if default else None

    return choose


class Translator:
    def __init__(self, broker: str, *, rules: Sequence[Rule]) -> None:
        self.broker = broker
        self.rules = tuple(rules)

    def error(self, exc: BaseException) -> BrokerError:
        """Our error for `exc` (ours pass through unchanged)."""
        if isinstance(exc, BrokerError):
            return exc
        for kinds, target in self.rules:
            if not isinstance(exc, kinds):
                continue
            made = target(vendor_message(exc)) if isinstance(target, type) else target(exc)
            if made is not None:
                return made
        logger.warning("%s: untranslated %s", self.broker, type(exc).__name__)
        return BrokerError(f"{self.broker} failed unexpectedly ({type(exc).__name__}): {vendor_message(exc)}")

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        try:
            yield
        except BrokerError:
            raise
        except Exception as exc:
            raise self.error(exc) from exc

    def edge(self, method: Callable[P, R]) -> Callable[P, R]:
        """Decorate an adapter method so only our errors leave it."""

        @functools.wraps(method)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with self.guard():
                return method(*args, **kwargs)

        return wrapper
