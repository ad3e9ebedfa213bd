"""idp: the per-tenant OAuth 2.0 / OpenID Connect authorization server on django-oauth-toolkit."""
