"""Root URLconf: platform-level routes and each tenant's routes under /t/<tenant>/."""

from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.health import healthz, readyz
from core.metrics import metrics_view
from idp.views import discovery
from tenants.admin_site import platform_admin_redirect
from tenants.branding import branding_css

# The tenant's admin API: {issuer}/api/v1/...
tenant_api_patterns: list[URLPattern | URLResolver] = [
    path("", include("accounts.api.urls")),
    path("", include("idp.api.urls")),
    path("", include("tenants.api.urls")),
    path("", include("audit.api.urls")),
]

tenant_patterns: list[URLPattern | URLResolver] = [
    path("", include("idp.urls")),
    path("", include("accounts.urls")),
    path("branding.css", branding_css, name="branding-css"),
    path("api/v1/", include(tenant_api_patterns)),
]

urlpatterns = [
    # Each tenant's endpoints first: nearly every request is one (the URL resolver tries the
    # patterns in order; none of the platform ones below begins with t/<slug>/ and also
    # matches a tenant pattern, so the order changes no answer).
    path("t/<slug:tenant>/", include(tenant_patterns)),
    # Liveness and readiness (core.health).
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # Prometheus metrics (core.metrics): a bearer token or an address allowlist.
    path("metrics", metrics_view, name="metrics"),
    # Platform staff: the platform tenant's admin (their session lives on that tenant's path).
    re_path(r"^admin/(?P<rest>.*)$", platform_admin_redirect, name="platform-admin"),
    # The platform API (platform staff; tenants.middleware runs it as the platform tenant).
    path("api/v1/tenants/", include("accounts.api.platform_urls")),
    # The admin API's OpenAPI 3.1 document and its Swagger UI (served from drf-spectacular-sidecar).
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
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
]

handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
