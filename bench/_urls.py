"""Every URL of the app, plus `/bench/bare`: the baseline the API is measured against."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from bench._fixture import BARE_PATH
from config.urls import handler404
from config.urls import urlpatterns as app_urlpatterns


def bare(request: HttpRequest) -> JsonResponse:
    """A plain sync Django view: same middleware and server as the API, no DRF, no auth, no query."""
    return JsonResponse({"broker": "paper", "status": "connected"})


urlpatterns = [path(BARE_PATH.lstrip("/"), bare), *app_urlpatterns]

__all__ = ["handler404", "urlpatterns"]
