from django.urls import path

from bots import hooks

urlpatterns = [path("bots/<str:token>", hooks.SignalHookView.as_view())]
