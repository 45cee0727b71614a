"""The page the broker's OAuth sign-in returns to: `GET /brokers/oauth/callback?code=...&state=...`."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from brokers.adapters.base import AuthenticationFailed, BrokerError
from brokers.adapters.registry import get_spec
from brokers.services.oauth import oauth_complete
from config.domain import DomainError


def oauth_callback_url(request: HttpRequest) -> str:
    """This site's callback URL, as registered with the broker's app (authorise and exchange must agree)."""
    return request.build_absolute_uri(reverse("oauth-callback"))


@login_required
@require_GET
def oauth_callback(request: HttpRequest) -> HttpResponse:
    """Complete the sign-in, then back to the brokers page; a clear error page when it cannot be."""
    if denied := request.GET.get("error"):
        detail = request.GET.get("error_description") or denied
        return _failed(request, f"The broker did not authorise Tradewire ({detail}). Nothing was changed.", 400)
    try:
        connection = oauth_complete(
            session=request.session,
            user=request.user,
            state=request.GET.get("state", ""),
            code=request.GET.get("code", ""),
            callback_url=oauth_callback_url(request),
        )
    except DomainError as exc:
        return _failed(request, exc.message, 404 if exc.error_code == "not_found" else 400)
    except BrokerError as exc:
        return _failed(request, exc.message, 400 if isinstance(exc, AuthenticationFailed) else 502)
    spec = get_spec(connection.broker)
    messages.success(request, f"{spec.name} is connected.")
    return redirect("brokers-page")


def _failed(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "brokers/oauth_error.html", {"message": message}, status=status)
