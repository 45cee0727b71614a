"""`config.asgi:application` plus one read-only HTTP probe of this process's quote hub (bench only).

The fan-out load benchmark serves `bench._fanout_probe:application` so it can read the hub's
own counts: `GET /__bench__/hub` answers `{received, outboxes, sent, coalesced, pending, dead_outboxes}`
summed over the live outboxes. Every other request goes to the app unchanged. The app does not expose
these totals itself (yet): see the README's fan-out benchmark section.
"""

from __future__ import annotations

import gc
import json
import os
import time
from typing import Any

from config.asgi import application as app
from realtime.hub import hub

PROBE_PATH = "/__bench__/hub"
_gc = {"collections": 0, "full": 0, "seconds": 0.0, "longest_s": 0.0, "started": 0.0}


def _gc_timer(phase: str, info: dict[str, int]) -> None:
    """Times the cyclic collector: its pauses stop the event loop, so they show in the latency tail."""
    if phase == "start":
        _gc["started"] = time.perf_counter()
        return
    took = time.perf_counter() - _gc["started"]
    _gc["collections"] += 1
    _gc["full"] += info["generation"] == 2
    _gc["seconds"] += took
    _gc["longest_s"] = max(_gc["longest_s"], took)


gc.callbacks.append(_gc_timer)
if os.environ.get("FANOUT_GC_THRESHOLD"):  # an experiment: e.g. "50000,20,10"
    gc.set_threshold(*(int(n) for n in os.environ["FANOUT_GC_THRESHOLD"].split(",")))


def hub_totals() -> dict[str, int]:
    """Counts over the hub's outboxes; `dead` ones (writer task ended: the socket is gone) apart."""
    outboxes = {outbox for members in hub.subscribers.values() for outbox in members}
    live = [o for o in outboxes if not o.task.done()]
    longest, _gc["longest_s"] = _gc["longest_s"], 0.0  # the longest pause since the previous probe
    return {
        "received": hub.received,
        "outboxes": len(live),
        "sent": sum(o.sent for o in live),
        "coalesced": sum(o.coalesced for o in live),
        "pending": sum(len(o.pending) for o in live),
        "dead_outboxes": len(outboxes) - len(live),
        "gc_collections": _gc["collections"],
        "gc_full_collections": _gc["full"],
        "gc_ms": round(_gc["seconds"] * 1000, 1),
        "gc_longest_ms": round(longest * 1000, 1),
        "gc_tracked_objects": len(gc.get_objects()),
    }


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http" or scope["path"] != PROBE_PATH:
        return await app(scope, receive, send)
    body = json.dumps(hub_totals()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return None
