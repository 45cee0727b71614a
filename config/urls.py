from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import views
from realtime import views as realtime_views

# The API first: Django tries patterns in order, and API requests are the hot path.
urlpatterns = [
    path("api/", include("brokers.urls")),
    path("api/", include("watchlist.urls")),
    path("api/", include("bots.urls")),
    path("hooks/", include("bots.hook_urls")),
    path("health", views.health, name="health"),
    path("js/events.js", realtime_views.events_js, name="events-js"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("brokers.page_urls")),
    path("", include("bots.page_urls")),
    path("", include("accounts.urls")),
]

handler404 = "config.views.not_found"
