"""Provision the django-oauth-toolkit peer (run under its settings by bench/run.py).

Prints one JSON document with what the load scripts need, with the same keys as
bench/provision.py where the scenario is the same. Refresh tokens are minted straight into
the database as DOT's token endpoint stores them (the raw value and its SHA-256 checksum,
DOT's default token storage), each with its access token, and their raw values are written to
a file the refresh scenario reads, one per line.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.utils import timezone  # noqa: E402
from oauth2_provider.models import AccessToken, Application, RefreshToken  # noqa: E402

REDIRECT = "https://rp.bench.invalid/callback"
PASSWORD = "bench-password-" + "x" * 12
LOGIN_USERS = 16  # as bench/provision.py


def _checksum(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _application(name: str, grant: str, **fields) -> tuple[Application, str]:
    secret = secrets.token_urlsafe(32)
    app = Application.objects.create(name=name, client_type=Application.CLIENT_CONFIDENTIAL,
                                     authorization_grant_type=grant, client_secret=secret,
                                     hash_client_secret=False, **fields)
    return app, secret


def main(refresh_count: int, refresh_file: str) -> None:
    user = get_user_model().objects.create_user("bench", "bench@example.com", PASSWORD)
    # The login row signs in as many people in turn as Tessera's (bench/provision.py).
    login_users = [f"bench-{n}" for n in range(LOGIN_USERS)]
    for name in login_users:
        get_user_model().objects.create_user(name, f"{name}@example.com", PASSWORD)
    cc, cc_secret = _application("cc-opaque", Application.GRANT_CLIENT_CREDENTIALS)
    web, web_secret = _application("web", Application.GRANT_AUTHORIZATION_CODE, redirect_uris=REDIRECT,
                                   skip_authorization=True, algorithm=Application.RS256_ALGORITHM)
    expires = timezone.now() + timedelta(hours=1)
    raw_tokens: list[str] = []
    for start in range(0, refresh_count, 2000):
        pairs = [(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
                 for _ in range(start, min(start + 2000, refresh_count))]
        ats = AccessToken.objects.bulk_create([
            AccessToken(user=user, application=web, token=at, token_checksum=_checksum(at), expires=expires,
                        scope="openid")
            for at, _rt in pairs
        ])
        RefreshToken.objects.bulk_create([
            RefreshToken(user=user, application=web, token=rt, token_checksum=_checksum(rt), access_token=at_row)
            for at_row, (_at, rt) in zip(ats, pairs, strict=True)
        ])
        raw_tokens.extend(rt for _at, rt in pairs)
    introspect_token = secrets.token_urlsafe(32)
    AccessToken.objects.create(user=user, application=web, token=introspect_token,
                               expires=expires + timedelta(days=1), scope="openid")
    with open(refresh_file, "w") as fh:
        fh.write("\n".join(raw_tokens) + "\n")

    def basic(app: Application, secret: str) -> str:
        return "Basic " + base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    json.dump({
        "user": user.get_username(), "login_users": login_users, "password": PASSWORD, "redirect_uri": REDIRECT,
        "cc_auth": basic(cc, cc_secret), "web_auth": basic(web, web_secret), "web_client_id": web.client_id,
        "code_verifier": verifier, "code_challenge": challenge,
        "introspect_token": introspect_token, "refresh_file": refresh_file,
    }, sys.stdout)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
