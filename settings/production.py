"""Production overlay: refuses to start with unsafe values and says how to fix them."""

from __future__ import annotations

import base64
import binascii

from django.core.exceptions import ImproperlyConfigured

from settings.base import *  # noqa: F401,F403
from settings.base import ALLOWED_HOSTS, CORS_ALLOWED_ORIGINS, DEBUG, SECRET_KEY, TESSERA
from settings.env import env_bool, env_int

_HINT = "Run `python manage.py generate_secrets` for good values."

if DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production (unset DEBUG or set DEBUG=false).")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured(f"SECRET_KEY is missing or weak (need >= 50 varied characters). {_HINT}")
try:
    _kek = base64.urlsafe_b64decode(TESSERA["KEY_ENCRYPTION_KEY"].encode())
except (binascii.Error, ValueError):
    _kek = b""
if len(_kek) != 32:
    raise ImproperlyConfigured(
        f"TESSERA_KEY_ENCRYPTION_KEY must be 32 random bytes, urlsafe-base64 encoded. {_HINT}"
    )
if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the public host names; '*' is refused.")
if "*" in CORS_ALLOWED_ORIGINS:
    raise ImproperlyConfigured("CORS_ALLOWED_ORIGINS may not contain '*'.")
if not TESSERA["PUBLIC_URL"].startswith("https://"):
    raise ImproperlyConfigured("TESSERA_PUBLIC_URL must be the https:// URL relying parties reach.")

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
if not env_bool("SESSION_COOKIE_SECURE", True) or not env_bool("CSRF_COOKIE_SECURE", True):
    raise ImproperlyConfigured("Cookies must be Secure in production.")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
