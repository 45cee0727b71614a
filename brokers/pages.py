"""The broker pages. They render a shell; the page's ES module drives the same REST API
that API clients use, so there is one validation path for browsers and tokens alike."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def brokers_page(request: HttpRequest) -> HttpResponse:
    return render(request, "brokers/list.html")


@login_required
def connect_page(request: HttpRequest) -> HttpResponse:
    return render(request, "brokers/connect.html")


@login_required
def orders_page(request: HttpRequest) -> HttpResponse:
    return render(request, "orders/list.html")
