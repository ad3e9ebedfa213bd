"""The language of a request's pages: the relying party's ``ui_locales``, else the browser's.

OpenID Connect's ``ui_locales`` (Core §3.1.2.1, space-separated BCP 47 tags in order of
preference) arrives on the authorization request only; the first tag we serve wins and is
kept in the tenant's session, so the pages that follow (sign-in, second step, consent) speak
the same language. Without one, the browser's Accept-Language decides (Django's negotiation,
which also maps ``de-AT`` to ``de``), else ``LANGUAGE_CODE``.

Django's ``LocaleMiddleware`` is not used: it redirects to language-prefixed URLs, and ours
are fixed (``/t/<slug>/...``, the issuer's endpoints among them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers

from tenants.sessions import session_cookie

T = TypeVar("T")

SESSION_KEY = "tessera_language"
# A tag is at most 35 characters in practice (RFC 5646 §4.4.1); a longer list is not a
# preference but noise, and each tag costs a lookup.
_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,6}")
_MAX_TAGS = 10


def supported(tag: str) -> str | None:
    """The language of ``LANGUAGES`` serving the tag (``de-CH`` -> ``de``), or None."""
    if not _TAG.fullmatch(tag):
        return None
    try:
        return translation.get_supported_language_variant(tag.lower())
    except LookupError:
        return None


def from_ui_locales(value: str) -> str | None:
    """The first tag of an OIDC ``ui_locales`` list that we serve, or None."""
    for tag in value.split()[:_MAX_TAGS]:
        if (language := supported(tag)) is not None:
            return language
    return None


def in_english(make: Callable[[], T]) -> T:
    """``make()`` with English active: what the audit trail and the logs keep of a text that
    a page shows in the reader's language (the trail reads the same whoever caused it)."""
    with translation.override("en"):
        return make()


def language_for(request: HttpRequest) -> str:
    """ui_locales (remembered in the tenant's session), the session's choice, Accept-Language."""
    tenant = getattr(request, "tenant", None)
    session = getattr(request, "session", None)
    requested = from_ui_locales(request.GET.get("ui_locales", ""))
    if requested is not None:
        # Only a tenant's session can be saved (tenants.sessions), and only one is worth it.
        if tenant is not None and session is not None and session.get(SESSION_KEY) != requested:
            session[SESSION_KEY] = requested
        return requested
    # Without a session cookie there is no session to read; reading one anyway would mark
    # it accessed and add "Vary: Cookie" to every API response.
    if session is not None and session_cookie(request)[0] in request.COOKIES:
        remembered = session.get(SESSION_KEY)
        if isinstance(remembered, str) and (language := supported(remembered)) is not None:
            return language
    return translation.get_language_from_request(request, check_path=False)


class LanguageMiddleware:
    """Activates the request's language for its view; pages say which it is.

    After the session middleware (it reads the session). The language is deactivated when
    the response leaves, so whatever renders outside this middleware (the unknown-tenant
    page) gets ``LANGUAGE_CODE``, never the previous request's language on this thread.
    Content-Language and ``Vary: Accept-Language`` go on HTML only, as the CSP does: the
    JSON endpoints speak no language.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = language_for(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        try:
            response = self.get_response(request)
        finally:
            translation.deactivate()
        return say_language(response, language)


def say_language(response: HttpResponse, language: str) -> HttpResponse:
    """Content-Language and ``Vary: Accept-Language`` on an HTML response."""
    if response.get("Content-Type", "").startswith("text/html"):
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ("Accept-Language",))
    return response
