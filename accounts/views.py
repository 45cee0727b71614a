from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.forms import ApiTokenCreateForm
from accounts.selectors import api_token_get, api_token_list
from accounts.services import IssuedToken, api_token_create, api_token_revoke
from brokers.adapters.registry import BROKERS, requires_premium


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard.html")


def _render_account(
    request: HttpRequest, *, form: ApiTokenCreateForm, issued: IssuedToken | None = None
) -> HttpResponse:
    context = {
        "form": form,
        "tokens": api_token_list(user=request.user),
        "issued": issued,
        "premium_brokers": [spec.name for spec in BROKERS.values() if requires_premium(spec)],
    }
    return render(request, "accounts/account.html", context)


# never_cache: the page lists the user's tokens, and once shows a new key in clear.
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def account_page(request: HttpRequest) -> HttpResponse:
    """The account page; a POST creates an API token.

    A successful create answers with the page itself, not a redirect: the key exists only in
    this one response, never in the session, a message or a URL.
    """
    if request.method == "GET":
        return _render_account(request, form=ApiTokenCreateForm())
    form = ApiTokenCreateForm(request.POST)
    if not form.is_valid():
        return _render_account(request, form=form)
    issued = api_token_create(
        user=request.user, name=form.cleaned_data["name"], expires_in_days=form.cleaned_data["expires_in_days"]
    )
    return _render_account(request, form=ApiTokenCreateForm(), issued=issued)


@login_required
@require_http_methods(["GET", "POST"])
def api_token_revoke_page(request: HttpRequest, token_id: int) -> HttpResponse:
    """GET asks to confirm (the page's dialog does the same with JavaScript); POST revokes."""
    token = api_token_get(user=request.user, token_id=token_id)
    if request.method == "GET":
        return render(request, "accounts/token_revoke.html", {"token": token})
    api_token_revoke(token=token)
    messages.success(request, f"Token “{token.name or token.prefix}” revoked; it no longer authenticates.")
    return redirect("account-page")
