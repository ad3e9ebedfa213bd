"""What may enter an audit event: JSON-native values, secrets redacted, no NUL characters.

Redaction goes by the *name* of a detail and by the *shape* of its value:

- a key is secret when its last word is a secret noun (``password``, ``client_secret``,
  ``refresh_token``, ``code_verifier``, ``totp_seed``, ``Authorization``...). Words are split
  on ``_ - .`` and camelCase, so ``access_token_format`` (a format) and ``code_challenge`` (a
  public value) are kept, where a substring match would redact them;
- a value is secret when it looks like bearer material under any key: a JWT, or a long run
  of base64 characters (a token, a secret, a code).

PostgreSQL text and jsonb cannot hold NUL, no UTF-8 encoder takes a lone surrogate, and an
audit write must never fail on input: both become U+FFFD everywhere.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

# Last words that name a secret. A key like "username" or "token_type" is not one.
SECRET_WORDS = frozenset({
    "password", "passwd", "passphrase", "pwd", "pin", "secret", "secrets", "token", "tokens",
    "code", "codes", "verifier", "otp", "totp", "seed", "key", "keys", "authorization",
    "cookie", "cookies", "credential", "credentials", "assertion", "signature", "session",
    "sessionid", "jwt", "bearer", "apikey",
})
# Identifiers that end in a secret word but are not secrets.
ALLOWED_KEYS = frozenset({"kid", "key_id", "client_id", "family", "anchor_hash"})
# Values that look like bearer material even under an innocent key: JWTs, long random strings.
SENSITIVE_VALUE = re.compile(r"^(?:eyJ[\w-]*\.[\w-]*\.[\w-]*|[A-Za-z0-9_\-+/=]{40,})$")
REDACTED = "[redacted]"
MAX_TEXT = 512
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_SURROGATE = re.compile("[\ud800-\udfff]")


def key_is_secret(key: str) -> bool:
    """True when a detail named ``key`` holds a secret (see the module docstring)."""
    if key.lower() in ALLOWED_KEYS:
        return False
    words = _WORDS.findall(key)
    return bool(words) and words[-1].lower() in SECRET_WORDS


def clean_text(value: str, max_length: int = MAX_TEXT) -> str:
    """``value`` cut to ``max_length``, NUL and lone surrogates replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", value[:max_length].replace("\x00", "\ufffd"))


def sanitise(value: Any, key: str = "") -> Any:
    """A JSON-native copy of ``value`` with secrets replaced by "[redacted]"."""
    if key and key_is_secret(key):
        return REDACTED
    if isinstance(value, dict):
        return {clean_text(str(k), 128): sanitise(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [sanitise(v) for v in items]
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    text = clean_text(str(value))
    if key.lower() not in ALLOWED_KEYS and SENSITIVE_VALUE.fullmatch(text):
        return REDACTED
    return text
