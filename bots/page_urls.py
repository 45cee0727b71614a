from django.urls import path

from bots import pages

urlpatterns = [path("bots/", pages.bots_page, name="bots-page")]
