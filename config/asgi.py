"""ASGI entry point: HTTP to Django, /ws/ to the realtime consumer."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 - needs Django set up

from realtime.auth import websocket_stack  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {"http": django_asgi_app, "websocket": websocket_stack(URLRouter(websocket_urlpatterns))}
)

# Thousands of sockets mean about a million long-lived objects; with the default threshold (700)
# the collector keeps walking them and a full pass stalls the fan-out for up to ~1 s at 5,000
# sockets (README "Benchmarks"). Collect young objects less often, and leave what startup
# created (Django, the URLconf, the app) out of every later collection.
gc.set_threshold(50_000, 20, 10)
gc.freeze()
