"""Content negotiation that answers the Accept values API clients actually send without parsing.

DRF parses the Accept header and orders its media types on every request, which costs as much
as a cached read itself. `*/*`, a missing header and `application/json` have a fixed answer, so
they take it directly; any other value (and `?format=`) goes through DRF's own negotiation.
"""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class ApiContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        accept = request.META.get("HTTP_ACCEPT", "*/*")
        override = self.settings.URL_FORMAT_OVERRIDE
        # Not in the raw query string means not a parameter, without parsing the query string.
        if not format_suffix and not (override and override in request.META.get("QUERY_STRING", "")):
            if accept == "*/*" and renderers:
                return renderers[0], renderers[0].media_type
            if accept == "application/json":
                for renderer in renderers:
                    if renderer.media_type == accept:
                        return renderer, accept
        return super().select_renderer(request, renderers, format_suffix)
