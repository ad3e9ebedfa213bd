"""Parse DATABASE_URL into a Django DATABASES entry (sqlite:/// and postgres:// forms)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def parse_database_url(url: str, *, base_dir: Path) -> dict:
    """Return a DATABASES["default"] dict for a sqlite:///path or postgres://user:pw@host:port/name URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path
        raw = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        path = Path(raw) if raw.startswith("/") else base_dir / raw
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
    if scheme in {"postgres", "postgresql", "pgsql"}:
        options = dict(parse_qsl(parts.query))
        config: dict[str, Any] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": unquote(parts.hostname or ""),
            "PORT": str(parts.port or ""),
            "OPTIONS": {},
        }
        # ?host=/var/run/postgresql&port=5433 select a Unix socket directory and its port.
        if "host" in options:
            config["HOST"] = options.pop("host")
        if "port" in options:
            config["PORT"] = options.pop("port")
        conn_max_age = options.pop("conn_max_age", None)
        if conn_max_age is not None:
            config["CONN_MAX_AGE"] = int(conn_max_age)
        # ?disable_server_side_cursors=true behind pgbouncer in transaction pooling mode: a
        # server-side cursor (QuerySet.iterator()) outlives the statement that declared it, and
        # the next statement may reach another server connection (Django's docs, "Transaction
        # pooling and server-side cursors"). Prepared statements need nothing here: Django opens
        # psycopg 3 connections with prepare_threshold=None unless OPTIONS asks otherwise.
        disable_cursors = options.pop("disable_server_side_cursors", None)
        if disable_cursors is not None:
            if disable_cursors.lower() not in {"true", "false"}:
                raise ImproperlyConfigured("DATABASE_URL: disable_server_side_cursors must be true or false.")
            config["DISABLE_SERVER_SIDE_CURSORS"] = disable_cursors.lower() == "true"
        config["OPTIONS"].update(options)
        if not config["NAME"]:
            raise ImproperlyConfigured("DATABASE_URL must name a database.")
        return config
    raise ImproperlyConfigured(f"DATABASE_URL scheme {scheme!r} is not supported (use sqlite or postgres).")
