"""ib_async's failures in our terms, at the adapter's edge.

ib_async raises few exceptions of its own: a dropped socket fails pending requests with
`ConnectionError`, a connect that gets no answer with `TimeoutError`, a refused TCP connect with
`ConnectionRefusedError`. Order and contract errors arrive as codes on `errorEvent` and in
`trade.log`, and are mapped where they are read (`orders.placement_error`).
"""

from __future__ import annotations

from brokers.adapters.base import BrokerUnavailable
from brokers.adapters.translate import Translator

TRANSLATOR = Translator(
    "Interactive Brokers",
    rules=(
        (TimeoutError, BrokerUnavailable),
        (OSError, BrokerUnavailable),  # ConnectionError, ConnectionRefusedError and friends
    ),
)
