"""The admin API's security scheme in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.api.views.BearerAuthentication"
    name = "bearer"
    priority = 1

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http", "scheme": "bearer",
            "description": "An access token of the tenant's own issuer ({issuer}/token), opaque or JWT, with "
                           "admin:read to read and admin:write to change: client credentials for automation, "
                           "or the code flow for a tenant admin (granted as far as their admin role goes).",
        }
