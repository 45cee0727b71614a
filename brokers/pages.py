"""The broker pages. They render a shell; the page's ES module drives the same REST API
that API clients use, so there is one validation path for browsers and tokens alike."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from brokers.oauth_views import oauth_callback_url
from brokers.selectors import connection_get
from brokers.services.oauth import oauth_authorize_url
from brokers.vault import VaultError
from config.domain import DomainError, NotFound


@login_required
def brokers_page(request: HttpRequest) -> HttpResponse:
    return render(request, "brokers/list.html")


@login_required
def connect_page(request: HttpRequest) -> HttpResponse:
    return render(request, "brokers/connect.html")


@login_required
def orders_page(request: HttpRequest) -> HttpResponse:
    return render(request, "orders/list.html")


@login_required
@require_POST
def reauthorize_page(request: HttpRequest, broker: str) -> HttpResponse:
    """Start the broker's OAuth sign-in again for a stored connection (its login ended): a new
    `state` in this session, then off to the broker; the callback brings the browser back."""
    try:
        connection = connection_get(user=request.user, broker=broker)
        url = oauth_authorize_url(
            session=request.session, connection=connection, callback_url=oauth_callback_url(request)
        )
    except DomainError as exc:
        status = 404 if isinstance(exc, NotFound) else 400
        return render(request, "brokers/oauth_error.html", {"message": exc.message}, status=status)
    except VaultError:
        message = "The stored app credentials could not be read. Disconnect and connect again."
        return render(request, "brokers/oauth_error.html", {"message": message}, status=400)
    return redirect(url)
