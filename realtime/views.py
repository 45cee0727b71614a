from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control

from realtime.events import js_module


@cache_control(max_age=300, public=True)
def events_js(request: HttpRequest) -> HttpResponse:
    """The event catalogue as an ES module, so the browser takes names from the same place."""
    return HttpResponse(js_module(), content_type="text/javascript; charset=utf-8")
