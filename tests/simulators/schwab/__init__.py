"""A simulator of Charles Schwab's Trader API, Market Data API and OAuth server (see `server.py`)."""

from tests.simulators.schwab.server import SchwabSimulator

__all__ = ["SchwabSimulator"]
