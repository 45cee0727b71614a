"""A simulator of Kraken's Spot REST API (https://docs.kraken.com/api/), driven by the unmodified ccxt `kraken`.

`KrakenSimulator` (server.py) routes the endpoints; `auth` admits private calls as Kraken does
(API-Key, API-Sign, strictly increasing nonces, the per-key call counter and the per-pair trading
counter); `book` keeps the account and matches orders; `trading` and `queries` answer the calls.
"""

from tests.simulators.kraken.auth import Tier
from tests.simulators.kraken.server import KrakenSimulator

__all__ = ["KrakenSimulator", "Tier"]
