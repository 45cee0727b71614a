"""A TWS / IB Gateway API simulator for ib_async (see `simulator.TwsSimulator`)."""

from tests.simulators.tws.simulator import TwsSimulator

__all__ = ["TwsSimulator"]
