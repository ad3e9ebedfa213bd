"""Settings of the vanilla django-oauth-toolkit peer (bench/run.py serves it beside Tessera).

DOT's documented setup at its fastest reasonable configuration: its stock models and views,
Django's default middleware and database sessions, plain client secrets (hash_client_secret
is set per application by bench/peers/dot/provision.py), PKCE required, OpenID Connect with
one RSA key. No audit trail, no row-level security, no rate limits.

Configured by bench/run.py through the environment: PEER_SECRET_KEY, PEER_DB_NAME,
PEER_DB_USER, PEER_DB_HOST (the cluster's socket directory), PEER_DB_PORT and
PEER_OIDC_RSA_PRIVATE_KEY (PEM).
"""

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent

SECRET_KEY = os.environ["PEER_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "oauth2_provider",
]
# The middleware of DOT's tutorial setup (Django's defaults for sessions, CSRF, users and
# messages).
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "bench.peers.dot.urls"
WSGI_APPLICATION = "bench.peers.dot.wsgi.application"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [HERE / "templates"],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["PEER_DB_NAME"],
        "USER": os.environ["PEER_DB_USER"],
        "HOST": os.environ["PEER_DB_HOST"],
        "PORT": os.environ["PEER_DB_PORT"],
        "CONN_MAX_AGE": 600,  # as Tessera is benchmarked (DB_CONN_MAX_AGE=600)
    },
}

# The same Argon2id parameters as Tessera's hasher (bench/peers/dot/hashers.py).
PASSWORD_HASHERS = ["bench.peers.dot.hashers.Argon2idHasher"]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/accounts/done/"

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": os.environ["PEER_OIDC_RSA_PRIVATE_KEY"],
    "PKCE_REQUIRED": True,
    "SCOPES": {"openid": "OpenID Connect", "introspection": "Introspect tokens"},
    # Stock refresh behaviour: ROTATE_REFRESH_TOKEN (True), no reuse protection, no grace period.
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
