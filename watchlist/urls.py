from django.urls import path

from watchlist import views

urlpatterns = [
    path("watchlist", views.WatchlistView.as_view()),
    # `path`, not `str`: servers hand Django the decoded path, so BTC%2FUSD arrives as BTC/USD.
    path("watchlist/<path:symbol>", views.WatchlistItemView.as_view()),
]
