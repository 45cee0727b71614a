"""A loopback OpenD for futu-api: see `server.OpenDSimulator`."""

from tests.simulators.opend.server import OpenDSimulator

__all__ = ["OpenDSimulator"]
