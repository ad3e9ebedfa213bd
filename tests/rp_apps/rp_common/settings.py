"""Settings both relying-party projects share: a plain Django site with a local user table."""

import os
from pathlib import Path

ISSUER = os.environ["RP_ISSUER"].rstrip("/")  # e.g. https://id.example.com/t/acme, no trailing slash
CLIENT_ID = os.environ["RP_CLIENT_ID"]
CLIENT_SECRET = os.environ["RP_CLIENT_SECRET"]

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "relying-party-test-only-" + "k" * 40
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rp_common",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [BASE_DIR / "templates"],
              "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                                 "django.contrib.auth.context_processors.auth"]}}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["RP_DATABASE"]}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
# Two of these apps run on one host in the tests, and cookies ignore the port: each keeps its
# own cookie names (an app on its own host needs none of this).
SESSION_COOKIE_NAME = os.environ.get("RP_COOKIE_PREFIX", "rp") + "_session"
CSRF_COOKIE_NAME = os.environ.get("RP_COOKIE_PREFIX", "rp") + "_csrf"
LOGIN_URL = "/login/"
