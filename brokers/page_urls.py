from django.urls import path

from brokers import oauth_views, pages

urlpatterns = [
    path("brokers/", pages.brokers_page, name="brokers-page"),
    path("brokers/connect/", pages.connect_page, name="connect-page"),
    path("brokers/oauth/callback", oauth_views.oauth_callback, name="oauth-callback"),
    path("brokers/<str:broker>/reauthorize", pages.reauthorize_page, name="broker-reauthorize"),
    path("orders/", pages.orders_page, name="orders-page"),
]
