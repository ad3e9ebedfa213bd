"""A Django app signing its users in at Tessera with Authlib's Django client (the README's setup)."""

from rp_common.settings import *  # noqa: F403

ROOT_URLCONF = "rp_authlib.urls"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
RP_LOGIN_URL = "/login/"
RP_LOGOUT_URL = "/logout/"
