"""A middleware stack per kind of endpoint (issue 16, decision 70).

The back-channel endpoints (token, introspection, revocation, userinfo, JWKS, discovery, the
health checks and ``/metrics``) are called by programs with a client secret or a bearer token,
never by a browser with a session: they need no session, language, CSRF, authentication or
messages middleware, and no trailing-slash redirect. The pages (everything else: login, account,
authorize, the admin and its API, static files) need no CORS: the per-tenant CORS answer
(idp.cors) is for the back channel only.

``for_pages(cls)`` and ``for_back_channel(cls)`` return a subclass of a middleware class that
passes the other kind of request straight to the next layer, hooks (``process_view``,
``process_exception``, ``process_template_response``) included. Subclasses, so that
Django's and our own checks that look for a middleware class by type still find it (admin.E408,
tessera.E010). The kind of a request is decided once, from its path, by ``is_back_channel``.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest

# The tenant's back-channel endpoints under its issuer /t/<slug>/, the RFC 8414 forms of the
# metadata (settings.urls), and the platform's health checks and metrics.
BACK_CHANNEL_PATH = re.compile(
    r"^/t/[^/]+/(?:token|introspect|revoke|userinfo|jwks\.json"
    r"|/?\.well-known/(?:openid-configuration|oauth-authorization-server))$"
    r"|^/\.well-known/(?:oauth-authorization-server|openid-configuration)/t/[^/]+/?$"
    r"|^/(?:healthz|readyz|metrics)$"
)

_KIND = "_tessera_back_channel"


def is_back_channel(request: HttpRequest) -> bool:
    """Whether the request addresses a back-channel endpoint (decided once per request)."""
    try:
        return request.__dict__[_KIND]
    except KeyError:
        kind = request.__dict__[_KIND] = BACK_CHANNEL_PATH.match(request.path_info) is not None
        return kind


_HOOKS = ("process_view", "process_exception", "process_template_response")


def _only(cls: type, back_channel: bool) -> type:
    def __call__(self: Any, request: HttpRequest) -> Any:
        if is_back_channel(request) is not back_channel:
            return self.get_response(request)
        return cls.__call__(self, request)

    namespace: dict[str, Any] = {"__call__": __call__, "__module__": __name__,
                                 "__doc__": f"{cls.__name__}, for {'back-channel' if back_channel else 'page'} "
                                            "requests only (core.stacks)."}
    for hook in _HOOKS:
        if hasattr(cls, hook):
            def guarded(self: Any, request: HttpRequest, *args: Any, _hook: str = hook) -> Any:
                if is_back_channel(request) is not back_channel:
                    return None
                return getattr(cls, _hook)(self, request, *args)

            namespace[hook] = guarded
    prefix = "BackChannel" if back_channel else "Page"
    return type(f"{prefix}{cls.__name__}", (cls,), namespace)


def for_pages(cls: type) -> type:
    """``cls``, skipped on back-channel requests."""
    return _only(cls, back_channel=False)


def for_back_channel(cls: type) -> type:
    """``cls``, skipped on page requests."""
    return _only(cls, back_channel=True)

