"""Root URLconf: platform-level routes and each tenant's routes under /t/<tenant>/."""

from django.urls import URLPattern, URLResolver, include, path, re_path

from idp.views import discovery
from tenants.branding import branding_css

tenant_patterns: list[URLPattern | URLResolver] = [
    path("", include("idp.urls")),
    path("", include("accounts.urls")),
    path("branding.css", branding_css, name="branding-css"),
]

urlpatterns = [
    # /admin/ (platform staff) and /t/<tenant>/admin/ arrive with the scoped-admin issue:
    # until platform accounts exist, nobody could sign in to them.
    # RFC 8414 §3: metadata of issuer https://host/t/acme lives at /.well-known/oauth-authorization-server/t/acme
    path(
        ".well-known/oauth-authorization-server/t/<slug:tenant>",
        discovery.openid_configuration,
        name="oauth-authorization-server",
    ),
    path(
        "t/<slug:tenant>/.well-known/oauth-authorization-server",
        discovery.openid_configuration,
        name="oauth-authorization-server-suffix",
    ),
    # An issuer configured with a trailing slash (django-allauth's server_url, for one) asks
    # for {issuer}//.well-known/openid-configuration: answer there too.
    re_path(r"^t/(?P<tenant>[-a-zA-Z0-9_]+)//\.well-known/openid-configuration$", discovery.openid_configuration,
            name="openid-configuration-trailing-slash"),
    path("t/<slug:tenant>/", include(tenant_patterns)),
]

handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
