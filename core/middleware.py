"""HTTP helpers that run before any view reads a body."""

from __future__ import annotations

import codecs
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from core.views import bad_request

_UTF8 = codecs.lookup("utf-8").name


def declared_charset(request: HttpRequest) -> str | None:
    """The charset the request body declares (its canonical codec name), or None."""
    charset = (getattr(request, "content_params", None) or {}).get("charset")
    if not charset:
        return None
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return charset.lower()


class UTF8BodiesMiddleware:
    """Refuse a multipart body declared in any charset but UTF-8, before anything reads it.

    Django already refuses urlencoded forms in another charset (BadRequest), but decodes
    multipart fields in whatever charset they declare: ``utf-7`` turns ``+2D8-`` into a lone
    surrogate, which no database driver can encode, and a login attempt became a 500.
    Every page of ours is UTF-8, so no browser sends anything else.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        multipart = (request.content_type or "").startswith("multipart/")
        if multipart and declared_charset(request) not in (None, _UTF8, "ascii"):
            return bad_request(request)
        return self.get_response(request)
