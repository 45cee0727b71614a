from django.urls import path

from brokers import views

urlpatterns = [
    path("brokers/supported", views.SupportedBrokersView.as_view()),
    path("brokers/test", views.ConnectionTestView.as_view()),
    path("brokers/configure", views.ConnectionConfigureView.as_view()),
    path("brokers/user/configured", views.ConnectionListView.as_view()),
    path("brokers/user/<str:broker>", views.ConnectionDetailView.as_view()),
    path("brokers/user/<str:broker>/balance", views.BalanceView.as_view()),
    path("brokers/user/<str:broker>/positions", views.PositionsView.as_view()),
    path("brokers/user/<str:broker>/orders", views.BrokerOrdersView.as_view()),
    path("orders/<str:order_id>", views.OrderDetailView.as_view()),
    path("portfolio", views.PortfolioView.as_view()),
]
