"""Development overlay: SQLite, local memory cache, console email, eager tasks, generated keys.

Nothing here is fit for production; settings.production refuses these values.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from settings.base import *  # noqa: F401,F403
from settings.base import BASE_DIR, TESSERA
from settings.env import env_bool, env_list, env_str


def _generated_secret(name: str, make) -> str:
    """Read a development secret from var/, creating it (mode 0600) on first use."""
    path = Path(BASE_DIR) / "var" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(make())
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", True)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
SECRET_KEY = env_str("SECRET_KEY") or _generated_secret("dev-secret-key", lambda: secrets.token_urlsafe(50))
TESSERA = {
    **TESSERA,
    "PUBLIC_URL": TESSERA["PUBLIC_URL"] or "http://127.0.0.1:8000",
    "KEY_ENCRYPTION_KEY": TESSERA["KEY_ENCRYPTION_KEY"]
    or _generated_secret(
        "dev-key-encryption-key", lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    ),
}

# Static files straight from the source tree (production serves collectstatic output).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
