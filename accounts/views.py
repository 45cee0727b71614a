from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard.html")


@login_required
def account_page(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account.html")
