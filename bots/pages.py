"""The bots page: a shell whose ES module (static/js/bots.js) drives the bots API."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache


# never_cache: the page shows a bot's webhook URL (a secret) once, after create or rotate.
@never_cache
@login_required
def bots_page(request: HttpRequest) -> HttpResponse:
    return render(request, "bots/list.html")
