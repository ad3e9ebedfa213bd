"""Production overlay: refuses to start with unsafe values and says how to fix them."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from core.crypto import GENERATE_HINT, decode_kek, kek_weakness
from settings.base import *  # noqa: F401,F403
from settings.base import (
    ALLOWED_HOSTS,
    BASE_DIR,
    CELERY_BROKER_URL,
    CORS_ALLOWED_ORIGINS,
    DEBUG,
    LOGGING,
    SECRET_KEY,
    SILENCED_SYSTEM_CHECKS,
    TESSERA,
)
from settings.env import env_bool, env_int, env_str

if DEBUG:
    raise ImproperlyConfigured("DEBUG must be off in production (unset DEBUG or set DEBUG=false).")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured(f"SECRET_KEY is missing or weak (need >= 50 varied characters). {GENERATE_HINT}")
try:
    _weakness = kek_weakness(decode_kek(TESSERA["KEY_ENCRYPTION_KEY"]))
except ValueError as exc:
    raise ImproperlyConfigured(
        f"{exc} {GENERATE_HINT} A key an earlier release accepted (with spaces, '+' or '/' in it) is the same "
        "key re-encoded by: python3 -c \"import base64,sys; print(base64.urlsafe_b64encode(base64.b64decode("
        "sys.argv[1].strip().replace('-', '+').replace('_', '/'))).decode())\" 'OLD-KEY' (a new key would "
        "orphan every signing key, client secret and audit link made under the old one).") from exc
if _weakness:
    raise ImproperlyConfigured(f"TESSERA_KEY_ENCRYPTION_KEY is not a random key: {_weakness}. {GENERATE_HINT}")


# Suffixes under which anyone can register a name (a few of the public suffix list, which is
# not available offline): ".co.uk" in ALLOWED_HOSTS would admit every British company.
_SHARED_SUFFIXES = {
    "co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "net.au", "org.au", "co.nz", "co.jp", "ne.jp", "or.jp",
    "com.br", "com.cn", "com.mx", "co.in", "co.za", "com.tr", "co.kr", "com.sg", "com.hk", "github.io",
    "gitlab.io", "herokuapp.com", "vercel.app", "netlify.app", "pages.dev", "web.app", "firebaseapp.com",
    "azurewebsites.net", "cloudfront.net", "appspot.com", "amazonaws.com", "blogspot.com",
}


def _host_problem(host: str) -> str | None:
    """Why an ALLOWED_HOSTS entry admits far more than one site, or None."""
    if host == "*" or "*" in host:
        return "wildcards are refused"
    if host.startswith("."):
        labels = [label for label in host[1:].lower().split(".") if label]
        if len(labels) < 2 or ".".join(labels) in _SHARED_SUFFIXES:
            return f"{host!r} admits every host under a public suffix"
    return None


# Tasks go to the Celery workers through Redis; run in the web process (eager, as in
# development) only when asked for. A broker in memory would lose every task.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
if not CELERY_TASK_ALWAYS_EAGER and CELERY_BROKER_URL.startswith("memory://"):
    raise ImproperlyConfigured(
        "No Celery broker: set REDIS_URL (or CELERY_BROKER_URL) to the Redis the workers read, or "
        "CELERY_TASK_ALWAYS_EAGER=true to run tasks in the web process (one machine, no worker, no beat).")

if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the public host names.")
for _host in ALLOWED_HOSTS:
    if (_problem := _host_problem(_host)):
        raise ImproperlyConfigured(f"ALLOWED_HOSTS: {_problem}; list the public host names.")
if any("*" in origin for origin in CORS_ALLOWED_ORIGINS):
    raise ImproperlyConfigured("CORS_ALLOWED_ORIGINS may not contain '*'.")

_public = urlsplit(TESSERA["PUBLIC_URL"])
try:
    _public_port = _public.port
except ValueError:
    _public_port = -1
if (_public.scheme != "https" or not _public.hostname or _public.username is not None
        or _public.password is not None or "@" in _public.netloc or _public.query or _public.fragment
        or "\\" in TESSERA["PUBLIC_URL"] or _public_port == -1):
    raise ImproperlyConfigured(
        "TESSERA_PUBLIC_URL must be the https:// URL relying parties reach: a host, an optional port "
        "and path, no user information, query or fragment.")

TESSERA = {**TESSERA, "ENVIRONMENT": "production"}

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
if not env_bool("SESSION_COOKIE_SECURE", True) or not env_bool("CSRF_COOKIE_SECURE", True):
    raise ImproperlyConfigured("Cookies must be Secure in production.")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
if SECURE_HSTS_SECONDS < 0:
    raise ImproperlyConfigured("SECURE_HSTS_SECONDS cannot be negative.")
if SECURE_HSTS_SECONDS < 86400:
    # Allowed (a TLS-terminating proxy may send HSTS itself), but never silently.
    warnings.warn(
        f"SECURE_HSTS_SECONDS={SECURE_HSTS_SECONDS}: HSTS is {'off' if not SECURE_HSTS_SECONDS else 'short'}; "
        "browsers may be downgraded to http unless the proxy in front sends Strict-Transport-Security.",
        RuntimeWarning, stacklevel=1)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Preloading is the operator's decision, not a default: it asks browser vendors to hard-code
# https for the registrable domain and every subdomain, which an IdP under a company's domain
# may not speak for, and leaving the list takes months. Off: security.W021 is expected, so it is
# silenced; on (SECURE_HSTS_PRELOAD=true) the check has nothing to say.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Probes reach a process directly over http (nginx, Docker and Kubernetes health checks): the
# answer, not a redirect to https, is what they need. Nothing else is exempt.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# security.W003 looks for "django.middleware.csrf.CsrfViewMiddleware" by name in MIDDLEWARE.
# Ours is tenants.csrf.TenantCsrfViewMiddleware, a subclass that keeps process_view (every
# check: token, Origin, Referer on https) and only moves the cookie onto the tenant's path; the
# CSRF tests (tests/security) exercise it, so the warning is about the name alone.
SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "security.W003", *([] if SECURE_HSTS_PRELOAD else ["security.W021"])]
# collectstatic's destination (the image collects at build time into var/static; a
# production-like run on a shared checkout collects into its own directory).
STATIC_ROOT = Path(env_str("STATIC_ROOT")) if env_str("STATIC_ROOT") else BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# issue 15 (H2's core.logging): one JSON object per log line by default in production, with the
# request id and tenant; LOG_FORMAT=plain for a person reading a terminal (base.py validates it).
LOG_FORMAT = env_str("LOG_FORMAT", "json")
_handlers = cast(dict[str, dict[str, Any]], LOGGING["handlers"])
LOGGING = {**LOGGING, "handlers": {**_handlers, "console": {**_handlers["console"], "formatter": LOG_FORMAT}}}
