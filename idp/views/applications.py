"""The account page's applications: what the person has allowed, each with revoke."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from accounts.authn import current_authentication
from idp.services.consent import consents_of, revoke_consent


def _sign_in_first(request: HttpRequest, tenant: str) -> HttpResponse:
    login = reverse("accounts:login", kwargs={"tenant": tenant})
    return HttpResponseRedirect(f"{login}?{urlencode({'next': request.get_full_path()})}")


@never_cache
def applications_view(request: HttpRequest, tenant: str) -> HttpResponse:
    if current_authentication(request) is None:  # signed in, within the session's timeouts
        return _sign_in_first(request, tenant)
    user: Any = request.user
    return render(request, "idp/applications.html", {"consents": consents_of(user)})


@require_POST
@csrf_protect
def revoke_view(request: HttpRequest, tenant: str, pk: int) -> HttpResponse:
    if current_authentication(request) is None:
        return _sign_in_first(request, tenant)
    if not revoke_consent(request.user, pk):
        raise Http404
    return HttpResponseRedirect(reverse("idp:applications", kwargs={"tenant": tenant}))
