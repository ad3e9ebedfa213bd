"""Base settings shared by every environment; values come from the environment (12-factor).

Overlays: ``settings.dev`` (default for manage.py), ``settings.test``, ``settings.production``.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from settings.database import parse_database_url
from settings.env import env_bool, env_int, env_list, env_str


def _current_issuer() -> str:
    """The issuer of the tenant the current request or task runs for."""
    from tenants.context import current_issuer

    return current_issuer()


BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = env_str("SECRET_KEY")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "oauth2_provider",
    "django_otp",
    # Brute-force protection: its backend and handler interface; the counting is ours
    # (accounts.lockout, AXES_HANDLER). Its own tables stay empty, under RLS all the same.
    "axes",
    # Ours, in dependency order: core imports no app of ours, tenants is the floor of the
    # domain, audit stands on it, accounts on both, idp on everything.
    "core",
    "tenants",
    "audit",
    "accounts",
    # Passkeys on py_webauthn. After accounts: its models module asks for the user model as
    # it loads. Its credential models are swapped for ours (accounts.devices).
    "django_otp_webauthn",
    "idp",
]

# One stack, two kinds of endpoint (core.stacks, settings.middleware, decision 70): the "Page..." classes are skipped
# on the back channel (token, introspection, revocation, userinfo, JWKS, discovery, health,
# metrics), which needs no session, language, CSRF, authentication or messages; the
# "BackChannel..." class is skipped on the pages, which need no CORS.
MIDDLEWARE = [
    # issue 15: requests by endpoint and status, timed from the outermost point (core.metrics)
    "core.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Outermost after it, so that every page gets them, the pages answered by an outer
    # middleware included (the unknown-tenant page of tenants.middleware).
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.security.PageCSPMiddleware",
    "core.middleware.UTF8BodiesMiddleware",
    "audit.middleware.RequestContextMiddleware",
    "settings.middleware.PageStaticFilesMiddleware",
    "settings.middleware.BackChannelCorsMiddleware",
    # Resolves /t/<slug>/ before sessions, so the session cookie can be scoped to the tenant.
    "tenants.middleware.TenantMiddleware",
    "audit.middleware.AuditChainMiddleware",
    "settings.middleware.PageSessionMiddleware",
    # The pages' language: ui_locales (kept in the session for the flow), else Accept-Language.
    "settings.middleware.PageLanguageMiddleware",
    "settings.middleware.PageCommonMiddleware",
    "settings.middleware.PageCsrfViewMiddleware",
    "settings.middleware.PageAuthenticationMiddleware",
    "settings.middleware.PageMessageMiddleware",
]

ROOT_URLCONF = "settings.urls"
WSGI_APPLICATION = "settings.wsgi.application"
ASGI_APPLICATION = "settings.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.tenant",
                "tenants.branding.branding",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(
        env_str("DATABASE_URL", "sqlite:///var/tessera.sqlite3"), base_dir=BASE_DIR
    )
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env_int("DB_CONN_MAX_AGE", 0))
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# The audit job's purge runs as a role allowed to purge (the table owner, or one it granted
# EXECUTE on audit_purge_through); SQLite has no roles, so there the default database purges.
if env_str("DATABASE_PURGE_URL"):
    DATABASES["audit_purge"] = parse_database_url(env_str("DATABASE_PURGE_URL"), base_dir=BASE_DIR)
_PURGE_DATABASE = ("audit_purge" if "audit_purge" in DATABASES
                   else "default" if DATABASES["default"]["ENGINE"].endswith("sqlite3") else "")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "tessera",
    }
}
if env_str("REDIS_URL"):
    CACHES["default"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("REDIS_URL"),
        # It holds the deny list of revoked JWT access tokens (idp.denylist), which fails
        # closed: an unreachable Redis must fail fast rather than stall every introspection.
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
# issue 15: faults survived (core.cache, core.outage). With Redis down the cache answers misses
# instead of raising (the deny list still fails closed). Without health checks, a persistent
# connection that died with a PostgreSQL restart fails one request (a 503), and Django closes
# it after that request, so the next reconnects: the app recovers without a restart either way.
# DB_CONN_HEALTH_CHECKS=true spares that one request per connection at the price of a
# `SELECT 1` round trip before every request (a third of the cheapest requests' rate in
# `make bench`); behind pgbouncer a PostgreSQL restart does not break the app's connections.
if env_str("REDIS_URL"):
    CACHES["default"]["BACKEND"] = "core.cache.DegradingRedisCache"
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("DB_CONN_HEALTH_CHECKS", False)

AUTH_USER_MODEL = "accounts.User"
# axes' backend first: it asks accounts.lockout whether the attempt may be checked at all.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "accounts.backends.TenantModelBackend"]
# Argon2id; parameters live on the hasher class. Django's own Argon2PasswordHasher must not
# be listed too: both are "argon2", the later would win the lookup, and every login would
# then rehash with Django's 100 MiB defaults.
PASSWORD_HASHERS = ["accounts.hashers.TesseraArgon2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # The tenant's policy sets the length (12 by default, and where there is no tenant).
    {"NAME": "accounts.validators.TenantMinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Our backend authenticates within the current tenant, where usernames are unique.
# otp_webauthn.E030 asks for a global OTP_WEBAUTHN_ALLOWED_ORIGINS: the allowed origin is
# each tenant's issuer origin, computed per request by accounts.passkeys.TenantWebAuthnHelper.
# axes.W002 asks for AxesMiddleware: the login views render the lockout themselves (the same
# page for every identifier), so the middleware would only add a second, different answer.
SILENCED_SYSTEM_CHECKS = ["auth.W004", "otp_webauthn.E030", "axes.W002"]

# django-axes: where it asks, accounts.lockout answers (decision 44). Limits and cool-off come
# from the tenant's security policy; the cool-off is always finite.
AXES_HANDLER = "accounts.lockout.LockoutHandler"
AXES_USERNAME_CALLABLE = "accounts.lockout.canonical_username"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_ip"
AXES_FAILURE_LIMIT = "accounts.lockout.failure_limit"
AXES_COOLOFF_TIME = "accounts.lockout.cool_off"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # a refused attempt neither counts nor extends
AXES_VERBOSE = False

# django-otp-webauthn: our credential models (tenant-owned) and our helper, which takes the
# relying-party id, name and origin from the tenant (accounts.passkeys).
OTP_WEBAUTHN_CREDENTIAL_MODEL = "accounts.Passkey"
OTP_WEBAUTHN_ATTESTATION_MODEL = "accounts.PasskeyAttestation"
OTP_WEBAUTHN_HELPER_CLASS = "accounts.passkeys.TenantWebAuthnHelper"
OTP_WEBAUTHN_RP_ID_CALLABLE = "accounts.passkeys.relying_party_id"
OTP_WEBAUTHN_RP_NAME_CALLABLE = "accounts.passkeys.relying_party_name"
OTP_WEBAUTHN_EXCEPTION_LOGGER_NAME = "tessera.passkeys"
# ES256 (-7), EdDSA (-8), RS256 (-257): what authenticators sign with.
OTP_WEBAUTHN_SUPPORTED_COSE_ALGORITHMS = [-7, -8, -257]
OTP_WEBAUTHN_TIMEOUT_SECONDS = 120

LANGUAGE_CODE = "en"
# The pages' languages (tenants.locale picks one per request); catalogues in locale/, compiled
# .mo files committed (CI does not compile them).
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT: Path | None = BASE_DIR / "var" / "static"  # None in dev and test
STATICFILES_DIRS = [BASE_DIR / "static"]

# Sessions: one cookie per tenant, scoped to /t/<slug>/ (see tenants.sessions).
SESSION_ENGINE = "accounts.sessions"
SESSION_COOKIE_NAME = "tessera_session"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE: Literal["Lax", "Strict", "None", False] = "Lax"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
# One CSRF cookie per tenant, on its path, under Tessera's own name (tenants.csrf).
CSRF_COOKIE_NAME = "tessera_csrf"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE: Literal["Lax", "Strict", "None", False] = "Lax"
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "core.views.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# django-csp 4: no inline script or style anywhere; pages load /static/ only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        # form-action is left out on purpose: Chromium applies it to the redirect that
        # follows the consent POST, which goes to the relying party's origin.
    }
}

CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
# issue 15: CORS per tenant (idp.cors): the origins its clients registered, on the endpoints a
# browser app calls with a token or code of its own; never with credentials (cookies). Discovery
# and the JWKS are public and answer "*" themselves (idp.views.discovery).
CORS_URLS_REGEX = r"^/t/[^/]+/(token|userinfo|revoke|introspect)$"
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ["GET", "POST", "OPTIONS"]

REST_FRAMEWORK = {
    # Nothing by default: the admin API's views say who may call them (tenants.api.views), and
    # the passkey ceremonies (django-otp-webauthn's DRF views) keep their own behaviour.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}

# The OpenAPI document of the admin API (/api/schema/, Swagger UI at /api/docs/).
SPECTACULAR_SETTINGS = {
    "TITLE": "Tessera admin API",
    "DESCRIPTION": (
        "Manage a tenant of the Tessera identity provider: users, OAuth clients, signing keys, the "
        "security policy, the audit trail and webhooks; and, for platform staff, the tenants. "
        "Authenticate with an access token of the tenant's own issuer carrying admin:read (to read) "
        "or admin:write (to change). Errors are RFC 9457 problem details."
    ),
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/(t/\{tenant\}/)?api/v1",
    "PREPROCESSING_HOOKS": ["core.api.schema.only_the_admin_api"],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"SigningAlgorithmEnum": "idp.models.SigningAlgorithm"},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# Tessera's own knobs (read through core.conf.tessera_settings, which has the defaults).
TESSERA: dict[str, Any] = {
    "PUBLIC_URL": env_str("TESSERA_PUBLIC_URL").rstrip("/"),
    "KEY_ENCRYPTION_KEY": env_str("TESSERA_KEY_ENCRYPTION_KEY"),
    "PREVIOUS_KEY_ENCRYPTION_KEYS": env_list("TESSERA_PREVIOUS_KEY_ENCRYPTION_KEYS", []),
    "ACCESS_TOKEN_LIFETIME": env_int("TESSERA_ACCESS_TOKEN_LIFETIME", 3600),
    "ID_TOKEN_LIFETIME": env_int("TESSERA_ID_TOKEN_LIFETIME", 3600),
    "REFRESH_TOKEN_LIFETIME": env_int("TESSERA_REFRESH_TOKEN_LIFETIME", 30 * 24 * 3600),
    "LOOKUP_CACHE_SECONDS": env_int("TESSERA_LOOKUP_CACHE_SECONDS", 5),
    "DATABASE_APP_ROLE": env_str("TESSERA_DATABASE_APP_ROLE"),
    "AUDIT_SPOOL_URL": env_str("TESSERA_AUDIT_SPOOL_URL"),
    "AUDIT_CHECKPOINT_INTERVAL": env_int("TESSERA_AUDIT_CHECKPOINT_INTERVAL", 1000),
    "JWKS_MAX_AGE": env_int("TESSERA_JWKS_MAX_AGE", 300),
    "CODE_REPLAY_WINDOW": env_int("TESSERA_CODE_REPLAY_WINDOW", 24 * 3600),
    "CLEANUP_INTERVAL": env_int("TESSERA_CLEANUP_INTERVAL", 3600),
    "KEY_ROTATION_CHECK_INTERVAL": env_int("TESSERA_KEY_ROTATION_CHECK_INTERVAL", 3600),
    "AUDIT_MAINTENANCE_INTERVAL": env_int("TESSERA_AUDIT_MAINTENANCE_INTERVAL", 3600),
    "AUDIT_PURGE_DATABASE": _PURGE_DATABASE,
    "PLATFORM_TENANT": env_str("TESSERA_PLATFORM_TENANT", "platform"),
    # Seconds before each retry of a failed webhook delivery, comma-separated.
    "WEBHOOK_RETRY_DELAYS": [int(v) for v in env_list("TESSERA_WEBHOOK_RETRY_DELAYS", ["30", "120", "600", "3600",
                                                                                       "21600"])],
    "WEBHOOK_SWEEP_INTERVAL": env_int("TESSERA_WEBHOOK_SWEEP_INTERVAL", 60),
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": env_bool("TESSERA_WEBHOOK_ALLOW_PRIVATE_NETWORKS", False),
    "WEBHOOK_CA_FILE": env_str("TESSERA_WEBHOOK_CA_FILE"),
    # issue 15: client IP behind proxies, and who may read /metrics
    "TRUSTED_PROXY_COUNT": env_int("TESSERA_TRUSTED_PROXY_COUNT", 0),
    "METRICS_TOKEN": env_str("TESSERA_METRICS_TOKEN"),
    "METRICS_ALLOWED_IPS": env_list("TESSERA_METRICS_ALLOWED_IPS", []),
    # issue 15: rate limits counted in Redis (a dedicated URL, else the cache's REDIS_URL).
    "RATELIMIT_URL": env_str("TESSERA_RATELIMIT_URL") or env_str("REDIS_URL"),
    "ENVIRONMENT": "development",
}
# issue 15: a mistyped scraper address or proxy count fails at start-up, not at every request.
for _cidr in TESSERA["METRICS_ALLOWED_IPS"]:
    try:
        ipaddress.ip_network(_cidr, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(
            f"TESSERA_METRICS_ALLOWED_IPS: {_exc}; list the scrapers' addresses or networks "
            "(CIDRs such as 10.0.0.0/8), comma-separated.") from _exc
if TESSERA["TRUSTED_PROXY_COUNT"] < 0:
    raise ImproperlyConfigured(
        "TESSERA_TRUSTED_PROXY_COUNT counts the reverse proxies in front that append to X-Forwarded-For: "
        "0 (none, the default) or more.")

# django-oauth-toolkit: models swapped for tenant-aware ones, every RFC 9700 gate on.
OAUTH2_PROVIDER_APPLICATION_MODEL = "idp.Application"
# Model labels, not secrets (S105 reads "TOKEN" in the names).
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "idp.AccessToken"  # noqa: S105
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "idp.RefreshToken"  # noqa: S105
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "idp.IDToken"  # noqa: S105
OAUTH2_PROVIDER_GRANT_MODEL = "idp.Grant"
OAUTH2_PROVIDER = {
    "OAUTH2_VALIDATOR_CLASS": "idp.validators.TesseraOAuth2Validator",
    "OAUTH2_SERVER_CLASS": "idp.server.TesseraServer",
    "OIDC_SERVER_CLASS": "idp.server.TesseraServer",
    "OIDC_ENABLED": True,
    # The issuer is per tenant: a lazy string that becomes the current tenant's issuer
    # whenever DOT reads it (discovery, the RFC 9207 iss parameter, ID tokens, logout).
    "OIDC_ISS_ENDPOINT": lazy(_current_issuer, str)(),
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["client_secret_basic", "client_secret_post", "none"],
    "SCOPES": {
        # Shown on the consent page, in the page's language.
        "openid": _("Sign you in"),
        "profile": _("See your name and username"),
        "email": _("See your email address"),
        "offline_access": _("Stay signed in to the app"),
        # The admin API (granted only to clients given them, and to people as far as their
        # admin role goes: idp.models.admin_scopes_of).
        "admin:read": _("See this organisation's users, apps, settings and audit trail"),
        "admin:write": _("Change this organisation's users, apps and settings"),
    },
    "DEFAULT_SCOPES": ["openid"],
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": TESSERA["ACCESS_TOKEN_LIFETIME"],
    "ID_TOKEN_EXPIRE_SECONDS": TESSERA["ID_TOKEN_LIFETIME"],
    "REFRESH_TOKEN_EXPIRE_SECONDS": TESSERA["REFRESH_TOKEN_LIFETIME"],
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "PKCE_REQUIRED": True,
    # https only here; a client that registered a loopback redirect (RFC 8252) gets http
    # through Application.get_allowed_schemes, after idp.redirects validated it.
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    "ALLOW_URI_WILDCARDS": False,
    "ACCESS_TOKEN_GENERATOR": "idp.tokens.generate_access_token",
    "REFRESH_TOKEN_GENERATOR": "idp.tokens.generate_opaque_token",
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "client_credentials", "refresh_token"],
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "REQUEST_APPROVAL_PROMPT": "auto",
    "OAUTH_PRE_TOKEN_VALIDATION": [],  # DOT's default hook serves the device flow, not offered
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}

LOGIN_URL = "accounts:login"

# Email (accounts.mail, sent from a Celery task): the console in development, SMTP from the
# environment in production (EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Tessera <no-reply@localhost>")
# Links sent by email (accounts.tokens): how long each works, in seconds.
TESSERA_PASSWORD_RESET_TIMEOUT = env_int("TESSERA_PASSWORD_RESET_TIMEOUT", 3600)
TESSERA_EMAIL_VERIFICATION_TIMEOUT = env_int("TESSERA_EMAIL_VERIFICATION_TIMEOUT", 3 * 24 * 3600)
PASSWORD_RESET_TIMEOUT = max(TESSERA_PASSWORD_RESET_TIMEOUT, TESSERA_EMAIL_VERIFICATION_TIMEOUT)

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", env_str("REDIS_URL", "memory://"))
if CELERY_BROKER_URL.startswith("unix://"):  # Django's cache takes unix://path; Celery's Redis transport does not
    CELERY_BROKER_URL = "redis+socket://" + CELERY_BROKER_URL[len("unix://"):]
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
# issue 15: enqueueing fails fast when the broker is down or hung (kombu waits forever on a
# hung Redis by default, stalling the request): a refused connection fails in well under a
# second, a hung one after socket_timeout (2 s, above the workers' 1 s BRPOP). Callers keep the
# work: webhook deliveries wait in their outbox for the sweep, emails are logged (accounts.mail).
CELERY_BROKER_CONNECTION_TIMEOUT = 1.0
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1.0, "socket_timeout": 2.0}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

# issue 15: LOG_FORMAT=json writes one JSON object per line with the request id and tenant
# (core.logging); plain by default here, json by default in production.
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "core.logging.JsonFormatter",
                 "context": {"request_id": "audit.context.current_request_id",
                             "tenant": "tenants.context.get_current_tenant"}},
        "json_line": {"format": "%(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
        "audit": {"class": "logging.StreamHandler", "formatter": "json_line"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # DOT logs client ids and redirect URIs at DEBUG; never secrets, but keep it quiet.
        "oauth2_provider": {"level": "WARNING"},
        "oauthlib": {"level": "WARNING"},
        # One JSON line per audit event and checkpoint (audit.chain.log_lines), after its
        # transaction commits: the copy of the trail that leaves the database.
        "tessera.audit": {"level": "INFO", "handlers": ["audit"], "propagate": False},
    },
}
