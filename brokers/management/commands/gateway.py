"""`python manage.py gateway`: run the gateway worker (see brokers/gateway/host.py) until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand

from brokers.gateway.host import GatewayHost


class Command(BaseCommand):
    help = "Hold the sockets to users' broker gateways (IB Gateway/TWS, OpenD) and serve calls on them."

    def handle(self, *args: Any, **options: Any) -> None:
        host = GatewayHost()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: host.stop())
        self.stdout.write(f"gateway worker {host.id} running")
        host.run()
