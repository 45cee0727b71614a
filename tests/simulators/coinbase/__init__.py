"""A simulator of Coinbase's Advanced Trade API, driven by the unmodified ccxt `coinbase`."""

from tests.simulators.coinbase.keys import ApiKey, ec_key, ed25519_key
from tests.simulators.coinbase.server import CoinbaseSimulator

__all__ = ["ApiKey", "CoinbaseSimulator", "ec_key", "ed25519_key"]
