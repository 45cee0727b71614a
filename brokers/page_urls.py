from django.urls import path

from brokers import pages

urlpatterns = [
    path("brokers/", pages.brokers_page, name="brokers-page"),
    path("brokers/connect/", pages.connect_page, name="connect-page"),
    path("orders/", pages.orders_page, name="orders-page"),
]
