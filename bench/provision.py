"""Provision the benchmark tenant (run under Django by bench/run.py): clients, a user, tokens.

Prints one JSON document with what the load scripts need. Refresh tokens are minted
straight into the database, as the token endpoint would store them (digests only), and
their raw values are written to a file the refresh scenario reads, one per line.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sys
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts import factors  # noqa: E402
from accounts.models import TOTPDevice  # noqa: E402
from accounts.services import create_user  # noqa: E402
from idp.models import AccessToken, GrantType, RefreshToken  # noqa: E402
from idp.services.clients import create_client  # noqa: E402
from tenants.context import tenant_context  # noqa: E402
from tenants.services import create_tenant, update_policy  # noqa: E402

REDIRECT = "https://rp.bench.invalid/callback"
PASSWORD = "bench-password-" + "x" * 12
LOGIN_USERS = 16


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def main(refresh_count: int, refresh_file: str) -> None:
    tenant = create_tenant("bench", "Benchmark Org")
    # issue 15: the load comes from a handful of clients, one address and one user at thousands
    # of requests a second: the rate limits would measure themselves, not the endpoints.
    unlimited = 1_000_000_000
    update_policy(tenant, ratelimit_signin_per_ip=unlimited, ratelimit_signin_per_account=unlimited,
                  ratelimit_client_requests=unlimited, ratelimit_client_failures_per_ip=unlimited)
    with tenant_context(tenant):
        user = create_user(username="bench", email="bench@example.com", password=PASSWORD)
        # The login rows sign in LOGIN_USERS people in turn, as an IdP's sign-ins come from many:
        # one account's concurrent sign-ins from unknown browsers queue on its lockout counter
        # (accounts.lockout, by design), which a single user at four connections would measure.
        login_users = [f"bench-{n}" for n in range(LOGIN_USERS)]
        for name in login_users:
            create_user(username=name, email=f"{name}@example.com", password=PASSWORD)
        # Users with an authenticator app: the password step then leads to the MFA step.
        mfa_users = [f"bench-mfa-{n}" for n in range(LOGIN_USERS)]
        for name in mfa_users:
            mfa_user = create_user(username=name, email=f"{name}@example.com", password=PASSWORD)
            device = factors.start_totp_enrolment(mfa_user)
            TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        cc = create_client(name="cc-opaque", confidential=True, grant_types=[GrantType.CLIENT_CREDENTIALS],
                           redirect_uris=[])
        cc_jwt = create_client(name="cc-jwt", confidential=True, grant_types=[GrantType.CLIENT_CREDENTIALS],
                               redirect_uris=[], algorithm="ES256", access_token_format="jwt")
        web = create_client(name="web", confidential=True, first_party=True, redirect_uris=[REDIRECT],
                            grant_types=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN])
        expires = timezone.now() + timedelta(hours=1)
        raw_tokens = []
        for start in range(0, refresh_count, 2000):
            batch = range(start, min(start + 2000, refresh_count))
            pairs = [(secrets.token_urlsafe(32), secrets.token_urlsafe(32), uuid.uuid4()) for _ in batch]
            ats = AccessToken.objects.bulk_create([
                AccessToken(tenant=tenant, user=user, application=web.application, token="",
                            token_checksum=_digest(at), expires=expires, scope="openid", family=family)
                for at, _rt, family in pairs
            ])
            RefreshToken.objects.bulk_create([
                RefreshToken(tenant=tenant, user=user, application=web.application, token="",
                             token_checksum=_digest(rt), access_token=at_row, token_family=family)
                for at_row, (_at, rt, family) in zip(ats, pairs, strict=True)
            ])
            raw_tokens.extend(rt for _at, rt, _f in pairs)
        introspect_token = secrets.token_urlsafe(32)
        AccessToken.objects.create(user=user, application=web.application, token="",
                                   token_checksum=_digest(introspect_token), expires=expires + timedelta(days=1),
                                   scope="openid")
        assert get_user_model().objects.filter(username="bench").exists()
    with open(refresh_file, "w") as fh:
        fh.write("\n".join(raw_tokens) + "\n")

    def basic(client) -> str:
        raw = f"{client.application.client_id}:{client.client_secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    json.dump({
        "user": "bench", "mfa_user": mfa_users[0], "login_users": login_users, "mfa_users": mfa_users,
        "password": PASSWORD, "redirect_uri": REDIRECT,
        "cc_auth": basic(cc), "cc_jwt_auth": basic(cc_jwt), "web_auth": basic(web),
        "web_client_id": web.application.client_id,
        "code_verifier": verifier, "code_challenge": challenge,
        "introspect_token": introspect_token, "refresh_file": refresh_file,
    }, sys.stdout)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
