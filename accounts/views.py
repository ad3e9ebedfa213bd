"""Login page and the tenant's signed-in landing page."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from accounts.authn import sign_in
from accounts.forms import LoginForm
from audit.context import DEVICE_COOKIE

INVALID_CREDENTIALS = "The username or password is not correct."


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """``candidate`` if it is a same-origin path inside this tenant, else the tenant home."""
    tenant_root = f"/t/{request.tenant.slug}/"  # type: ignore[attr-defined]
    if (
        candidate
        and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                            require_https=request.is_secure())
        and (candidate.startswith(tenant_root) or candidate.startswith(tenant_root.rstrip("/") + "?"))
    ):
        return candidate
    return reverse("accounts:home", kwargs={"tenant": request.tenant.slug})  # type: ignore[attr-defined]


@never_cache
@csrf_protect
@sensitive_post_parameters("password")
def login_view(request: HttpRequest, tenant: str) -> HttpResponse:
    """Username/password step. The same message for unknown user and wrong password."""
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    error = None
    if request.method == "POST":
        form = LoginForm(request.POST)
        if form.is_valid():
            user = authenticate(
                request, username=form.cleaned_data["username"], password=form.cleaned_data["password"]
            )
            if user is not None:
                sign_in(request, user, amr=["pwd"])
                return remember_device(request, HttpResponseRedirect(next_url))
        error = INVALID_CREDENTIALS
    else:
        form = LoginForm(initial={"username": request.GET.get("login_hint", "")[:254]})
    response = render(request, "accounts/login.html", {"form": form, "next": next_url, "error": error})
    return remember_device(request, response)


def remember_device(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Give the browser a long-lived random device cookie (audit risk: "new device")."""
    if DEVICE_COOKIE not in request.COOKIES:
        response.set_cookie(
            DEVICE_COOKIE, secrets.token_urlsafe(32), max_age=365 * 24 * 3600,
            path=f"/t/{request.tenant.slug}/", secure=settings.SESSION_COOKIE_SECURE,  # type: ignore[attr-defined]
            httponly=True, samesite="Lax",
        )
    return response


@never_cache
def home_view(request: HttpRequest, tenant: str) -> HttpResponse:
    """Where a person lands after signing in without a relying party."""
    return render(request, "accounts/home.html", {})
