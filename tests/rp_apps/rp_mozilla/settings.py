"""A Django app signing its users in at Tessera with mozilla-django-oidc 5 (the README's setup)."""

from rp_common.settings import *  # noqa: F403
from rp_common.settings import CLIENT_ID, CLIENT_SECRET, INSTALLED_APPS, ISSUER

INSTALLED_APPS = [*INSTALLED_APPS, "mozilla_django_oidc"]
ROOT_URLCONF = "rp_mozilla.urls"
AUTHENTICATION_BACKENDS = ["rp_mozilla.backend.TesseraBackend"]

# mozilla-django-oidc reads no discovery document: the endpoints are the issuer's, by name.
OIDC_OP_AUTHORIZATION_ENDPOINT = f"{ISSUER}/authorize"
OIDC_OP_TOKEN_ENDPOINT = f"{ISSUER}/token"
OIDC_OP_USER_ENDPOINT = f"{ISSUER}/userinfo"
OIDC_OP_JWKS_ENDPOINT = f"{ISSUER}/jwks.json"
OIDC_RP_CLIENT_ID = CLIENT_ID
OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
OIDC_RP_SIGN_ALGO = "RS256"  # its default, HS256, would need the client secret as a signing key
OIDC_RP_SCOPES = "openid email profile"
OIDC_USE_PKCE = True  # off by default; Tessera refuses a code request without PKCE
OIDC_TOKEN_USE_BASIC_AUTH = True  # client_secret_basic (the default sends the secret in the body)
OIDC_STORE_ID_TOKEN = True  # the id_token_hint of RP-initiated logout
OIDC_OP_LOGOUT_URL_METHOD = "rp_mozilla.backend.provider_logout_url"
OIDC_CALLBACK_CLASS = "rp_mozilla.backend.CallbackView"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
RP_LOGIN_URL = "/oidc/authenticate/"
RP_LOGOUT_URL = "/oidc/logout/"
