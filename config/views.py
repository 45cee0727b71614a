from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.defaults import page_not_found

from config.errors import api_not_found
from config.health import health_report


@never_cache
def health(request: HttpRequest) -> JsonResponse:
    body, status = health_report()
    return JsonResponse(body, status=status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return api_not_found(request, exception)
    return page_not_found(request, exception)  # type: ignore[arg-type]
