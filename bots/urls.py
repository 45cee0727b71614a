from django.urls import path

from bots import views

urlpatterns = [
    path("bots", views.BotListView.as_view()),
    path("bots/<str:bot_id>", views.BotDetailView.as_view()),
    path("bots/<str:bot_id>/webhook", views.BotWebhookView.as_view()),
    path("bots/<str:bot_id>/signals", views.BotSignalsView.as_view()),
    path("bots/<str:bot_id>/signals/<str:signal_id>/replay", views.SignalReplayView.as_view()),
    path("kill-switch", views.KillSwitchView.as_view()),
]
