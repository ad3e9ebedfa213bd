#!/usr/bin/env python3
"""``make mutate``: single-line changes to security-critical code that the suite must notice.

Each mutation below is a bug that once shipped or survived the whole suite (issue 9 of the
tracker lists the survivors). For each: copy the tree, apply the change, run the tests
nearest to it on the database where it shows (some are masked by row-level security on
PostgreSQL and only visible on SQLite, where the application layer stands alone), and
expect them to fail. A mutation the tests survive is reported, and the run exits 1.

    .venv/bin/python devtools/mutate.py [--only ID[,ID...]] [--list]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    id: str
    what: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    database: str = "postgres"  # or "sqlite"


MUTATIONS = [
    Mutation("refresh-race-loser-keeps-family",
             "the loser of a concurrent refresh no longer revokes the family",
             "idp/services/tokens.py",
             "        revoke_token_family(rt.token_family, reason=REFRESH_TOKEN_REUSED, client=client)\n"
             "    return bool(claimed)",
             "        pass\n    return bool(claimed)",
             ("tests/security/test_concurrent_reuse.py",)),
    Mutation("code-claim-unconditional",
             "the code claim no longer checks that the code is unused",
             "idp/services/tokens.py",
             "Grant.objects.filter(pk=grant.pk, used_at__isnull=True).update(",
             "Grant.objects.filter(pk=grant.pk).update(",
             ("tests/security/test_concurrent_reuse.py",)),
    Mutation("introspection-without-tenant-filter",
             "the explicit tenant filter removed from introspection's SQL",
             "idp/sql.py",
             "     WHERE t.tenant_id = %s AND t.token_checksum = %s\n\"\"\"\n\n# Whether",
             "     WHERE %s IS NOT NULL AND t.token_checksum = %s\n\"\"\"\n\n# Whether",
             ("tests/security/test_cross_tenant.py",), "sqlite"),
    Mutation("session-of-another-tenant-accepted",
             "the session middleware accepts a session bound to another tenant",
             "tenants/sessions.py",
             "        if tenant is not None and bound is not None and bound != tenant.pk:\n"
             "            session = self.SessionStore(None)\n",
             "",
             ("tests/security/test_logout_and_sessions.py", "tests/security/test_cross_tenant.py"), "sqlite"),
    Mutation("refresh-token-of-another-client",
             "a refresh token accepted from a client other than the one it was issued to",
             "idp/services/tokens.py",
             "if rt.application_id != client.pk or rt.access_token is None",
             "if rt.access_token is None",
             ("tests/security/test_codes_and_clients.py",)),
    Mutation("refresh-lifetime-not-enforced",
             "the refresh-token lifetime not enforced at the token endpoint",
             "idp/services/tokens.py",
             "    if expire_delta and rt.access_token.expires + expire_delta <= timezone.now():\n        return None\n"
             "    return rt",
             "    return rt",
             ("tests/security/test_codes_and_clients.py",)),
    Mutation("prompt-none-shows-consent",
             "prompt=none without consent shows the consent page instead of consent_required",
             "idp/views/authorize.py",
             "                if \"none\" in prompt:\n"
             "                    return self._redirect_error(credentials, \"consent_required\")\n",
             "",
             ("tests/security/test_authorization_requests.py", "tests/e2e/test_oidc_flows.py")),
    Mutation("logout-hint-of-another-session",
             "any valid id_token_hint (another user's, another session's) signs out without confirmation",
             "idp/views/logout.py",
             "this_session = claims is not None and claims.get(\"sid\") == authn.sid",
             "this_session = claims is not None",
             ("tests/security/test_logout_and_sessions.py", "tests/security/test_login_and_tampering.py")),
    Mutation("password-grant-routed",
             "the password grant routed again",
             "idp/server.py",
             'NOT_OFFERED = ("password", "urn:ietf:params:oauth:grant-type:device_code")',
             'NOT_OFFERED = ("urn:ietf:params:oauth:grant-type:device_code",)',
             ("tests/security/test_grants_and_scopes.py",)),
    Mutation("keyed-links-unchecked",
             "verification no longer checks the keyed links",
             "audit/verification.py",
             "if self.check_mac and link_mac(",
             "if False and link_mac(",
             ("tests/audit/test_tamper_evidence.py",)),
    Mutation("bad-checkpoint-skipped",
             "a checkpoint of the tenant that does not verify is skipped instead of reported",
             "audit/verification.py",
             "            raise _Broken(None, f\"a checkpoint of this tenant does not verify: {exc}\") from exc",
             "            continue",
             ("tests/audit/test_tamper_evidence.py",)),
    Mutation("client-credentials-get-openid",
             "client credentials granted openid and the other user scopes",
             "idp/validators.py",
             "if request.grant_type == GrantType.CLIENT_CREDENTIALS and claims.USER_SCOPES & set(scopes):",
             "if False:",
             ("tests/security/test_grants_and_scopes.py",)),
    Mutation("deactivated-user-keeps-tokens",
             "a deactivated user's access tokens still work at userinfo",
             "idp/validators.py",
             "(user is not None and (not user.is_active or user.locked))",
             "(user is not None and user.locked)",
             ("tests/security/test_logout_and_sessions.py",)),
    Mutation("reauthentication-not-bound-to-the-flow",
             "prompt=login and max_age satisfied by any existing session",
             "idp/views/authorize.py",
             "        fresh = reauthenticated_for(request, flow)\n",
             "        fresh = True\n",
             ("tests/security/test_authorization_requests.py", "tests/e2e/test_oidc_flows.py")),
    Mutation("loopback-any-port-for-every-client",
             "loopback redirects on any port for every client, not only native apps",
             "idp/models.py",
             "any_loopback_port=self.application_type == ApplicationType.NATIVE)",
             "any_loopback_port=True)",
             ("tests/security/test_authorization_requests.py",)),
    Mutation("sub-without-hyphens",
             "introspection returns the raw UUID column as sub (32 hex digits on SQLite)",
             "idp/introspection.py",
             '**({"sub": subject(uid), "username": username}',
             '**({"sub": str(uid), "username": username}',
             ("tests/e2e/test_oidc_flows.py",), "sqlite"),
    Mutation("cross-tenant-reference-allowed",
             "a composite tenant key missing from a migration",
             "idp/migrations/0003_application_type_and_tenant_keys.py",
             '        TenantForeignKey("idp_consent", "user_id", "accounts_user"),\n',
             "",
             ("tests/rls/test_row_level_security.py",)),
    Mutation("totp-step-claim-unconditional",
             "a TOTP code's time step is claimed without checking it is newer than the last",
             "accounts/factors.py",
             "TOTPDevice.objects.filter(pk=device.pk, last_t__lt=step).update(",
             "TOTPDevice.objects.filter(pk=device.pk).update(",
             ("tests/security/test_concurrent_reuse.py",)),
    Mutation("recovery-code-not-spent",
             "a recovery code is checked but not deleted, so it works again",
             "accounts/factors.py",
             "spent, _ = RecoveryCode.objects.filter(code_set=code_set, digest=_code_digest(user, code)).delete()",
             "spent, _ = RecoveryCode.objects.filter(code_set=code_set, digest=_code_digest(user, code)).count(), 0",
             ("tests/security/test_mfa.py",)),
    Mutation("password-alone-signs-in-an-enrolled-user",
             "the password step signs the session in instead of waiting for the second factor",
             "accounts/signin.py",
             '    await_second_factor(request, user, ["pwd"], enrol=enrol, purpose="sign_in")\n',
             '    complete_sign_in(request, user, ["pwd"])\n',
             ("tests/security/test_mfa.py",)),
    Mutation("passkeys-not-scoped-to-the-tenant",
             "passkey lookups no longer filtered by the tenant (only RLS would stop it)",
             "accounts/devices.py",
             "class PasskeyManager(TenantScopedQuerySetMixin, ",
             "class PasskeyManager(",
             ("tests/browser/test_strong_authentication.py",), "sqlite"),
    Mutation("password-change-keeps-tokens",
             "a password change no longer tells idp to revoke the user's tokens",
             "accounts/services.py",
             "        credentials_changed.send(sender=type(user), user=user, reason=reason)\n",
             "        pass\n",
             ("tests/security/test_password_change.py",)),
    Mutation("passkey-ceremony-not-bound",
             "a passkey ceremony begun for the MFA step may finish a passwordless sign-in",
             "accounts/passkeys.py",
             "            if state.get(\"for\", \"\") != (str(user.uid) if user is not None else \"\"):",
             "            if False:",
             ("tests/browser/test_strong_authentication.py",)),
    Mutation("lockout-counts-after-the-limit",
             "the username + IP counter lets one more attempt than the limit be checked",
             "accounts/lockout.py",
             "filter(fresh | Q(failures__lt=limit))",
             "filter(fresh | Q(failures__lte=limit))",
             ("tests/security/test_lockout.py",)),
    Mutation("lockout-known-browser-not-exempt",
             "a victim's own browser is slowed down with strangers' attempts",
             "accounts/lockout.py",
             "    known = known_browser(username, device)\n    limit, cooloff",
             "    known = False\n    limit, cooloff",
             ("tests/security/test_lockout.py",)),
    Mutation("cleanup-ends-refresh-chains",
             "the cleanup deletes an expired access token whose refresh token is still live",
             "idp/cleanup.py",
             "filter(expires__lte=timezone.now() - GRACE, refresh_token__isnull=True)",
             "filter(expires__lte=timezone.now() - GRACE)",
             ("tests/jobs/test_cleanup.py",)),
    Mutation("cleanup-forgets-reuse",
             "the cleanup deletes a used refresh token while its reuse must still revoke the family",
             "idp/cleanup.py",
             "Q(revoked__lte=now - reuse_matters)",
             "Q(revoked__isnull=False)",
             ("tests/jobs/test_cleanup.py",)),
    Mutation("rotation-without-lock",
             "two rotation runs of one tenant no longer serialise on its policy row",
             "idp/rotation.py",
             "SecurityPolicy.objects.select_for_update().get(pk=policy_for(tenant).pk)",
             "SecurityPolicy.objects.get(pk=policy_for(tenant).pk)",
             ("tests/jobs/test_key_rotation.py",)),
    Mutation("rotation-signs-before-published-long-enough",
             "a next key signs as soon as it is published, before relying parties can have fetched it",
             "idp/rotation.py",
             "elif upcoming.created <= now - lead_time():",
             "elif upcoming.created <= now:",
             ("tests/jobs/test_key_rotation.py",), "sqlite"),
    Mutation("rotation-removes-retired-key-early",
             "a retired key leaves the JWKS before the tokens it signed have expired",
             "idp/rotation.py",
             "key.retired_at <= now - retired_for()",
             "key.retired_at <= now - lead_time()",
             ("tests/jobs/test_key_rotation.py",), "sqlite"),
    Mutation("data-keys-follow-the-kek",
             "keyed digests use a sub-key of the current KEK instead of their stored data key",
             "core/crypto.py",
             "    key = unseal(row.sealed, purpose=DATA_KEY_PURPOSE, associated_data=info)\n",
             "    key = derived_key(info)\n",
             ("tests/jobs/test_kek_rotation.py",), "sqlite"),
    Mutation("kek-rotation-skips-totp-seeds",
             "the KEK rotation re-seals signing keys but leaves the TOTP seeds under the old KEK",
             "idp/kek.py",
             "            for column in TENANT_COLUMNS:\n",
             "            for column in TENANT_COLUMNS[:1]:\n",
             ("tests/jobs/test_kek_rotation.py",), "sqlite"),
    Mutation("cleanup-leaves-dangling-references",
             "the batched delete no longer clears the SET_NULL references to the rows it deletes",
             "core/batches.py",
             "        if rel.on_delete is models.SET_NULL:\n",
             "        if False:\n",
             ("tests/jobs/test_cleanup.py",)),
    Mutation("reset-token-not-bound-to-tenant",
             "a reset link's user is looked up across tenants (only RLS would stop it)",
             "accounts/tokens.py",
             "        return get_user_model().objects.filter(uid=uid, is_active=True).first()",
             "        return get_user_model().unscoped.filter(uid=uid, is_active=True).first()",
             ("tests/security/test_cross_tenant.py",), "sqlite"),
    Mutation("sign-out-everywhere-keeps-tokens",
             "\"sign out everywhere\" ends the sessions but leaves the tokens",
             "accounts/account_views.py",
             'end_sessions(user, reason="signed out everywhere", all_tokens=True)',
             'end_sessions(user, reason="signed out everywhere", all_tokens=False)',
             ("tests/browser/test_account_lifecycle.py",)),
    Mutation("consent-revoke-keeps-tokens",
             "withdrawing a consent leaves that client's tokens alive",
             "idp/services/consent.py",
             "        revoked = revoke_client_tokens(user, application)\n",
             "        revoked = 0\n",
             ("tests/browser/test_account_lifecycle.py",)),
    Mutation("emailed-code-not-compared",
             "any six digits pass for the emailed sign-in code",
             "accounts/risk.py",
             '    if not hmac.compare_digest(held.get("digest", ""), _digest(answer, str(user.uid))):',
             "    if False:",
             ("tests/security/test_risk.py",)),
    Mutation("risk-never-steps-up",
             "a risky password sign-in completes without the step-up",
             "accounts/risk.py",
             "    if score <= policy.risk_step_up_threshold:\n        return False",
             "    if True:\n        return False",
             ("tests/security/test_risk.py",)),
    Mutation("jwt-deny-list-skipped-at-introspection",
             "introspection no longer consults the deny list: a revoked client-credentials JWT stays active",
             "idp/introspection.py",
             "            return INACTIVE if revoked_jwt(token, result) else result\n",
             "            return result\n",
             ("tests/security/test_jwt_revocation.py",)),
    Mutation("jwt-deny-list-skipped-at-userinfo",
             "userinfo no longer consults the deny list for JWT access tokens",
             "idp/validators.py",
             "        if denylist.is_jwt(token) and denylist.revoked(",
             "        if False and denylist.revoked(",
             ("tests/security/test_jwt_revocation.py",)),
    Mutation("jwt-deny-list-fails-open",
             "an unreachable deny list lets JWT access tokens through",
             "idp/denylist.py",
             "                    where, tenant_id, jti, exc)\n        return True\n",
             "                    where, tenant_id, jti, exc)\n        return False\n",
             ("tests/security/test_jwt_revocation.py",)),
    Mutation("jwt-revoked-by-another-client",
             "any client of the tenant can revoke another client's JWT access token",
             "idp/services/tokens.py",
             "if claims.get(\"client_id\") != client.client_id or not isinstance(jti, str)",
             "if not isinstance(jti, str)",
             ("tests/security/test_jwt_revocation.py",)),
    Mutation("unverified-self-registration-signs-in",
             "a self-registered user signs in before verifying the email",
             "accounts/registration.py",
             "    return not user.email_verified and (user.self_registered or policy.require_verified_email)",
             "    return not user.email_verified and policy.require_verified_email",
             ("tests/browser/test_account_lifecycle.py",)),
    # The admin surfaces (issue 14).
    Mutation("admin-changelist-any-lookup",
             "a Django admin changelist takes a lookup on any field (?password__regex= reads hashes)",
             "tenants/admin_site.py",
             "            return rest in (\"year\", \"month\", \"day\", \"gte\", \"lt\")\n        return False\n",
             "            return rest in (\"year\", \"month\", \"day\", \"gte\", \"lt\")\n        return True\n",
             ("tests/admin/test_tenant_admin.py",)),
    Mutation("admin-scopes-beyond-the-role",
             "a person's code-flow token gets the admin scopes their role does not cover",
             "idp/validators.py",
             "if s not in ADMIN_SCOPES or s in admin_scopes_of(request.user)]",
             "]",
             ("tests/api/test_isolation_matrix.py",)),
    Mutation("admin-scopes-not-given-to-the-client",
             "a client obtains admin scopes it was not given",
             "idp/validators.py",
             "        if ADMIN_SCOPES & set(scopes) - set(request.client.admin_scopes or ()):\n",
             "        if False:\n",
             ("tests/api/test_clients_api.py",)),
    Mutation("api-write-with-read-scope",
             "the admin API lets admin:read change things",
             "tenants/api/permissions.py",
             "            needed = ADMIN_WRITE if write else ADMIN_READ\n",
             "            needed = ADMIN_READ\n",
             ("tests/api/test_clients_api.py",)),
    Mutation("api-token-role-unchecked",
             "a person's admin token works beyond their current role",
             "tenants/api/permissions.py",
             "            return user is None or _role_allows(user, write)",
             "            return True",
             ("tests/api/test_isolation_matrix.py",)),
    Mutation("api-client-scope-unchecked",
             "a scope taken from a client still works in its live tokens",
             "tenants/api/permissions.py",
             "            if needed not in scopes or needed not in client_scopes:",
             "            if needed not in scopes:",
             ("tests/api/test_clients_api.py",)),
    Mutation("last-full-admin-demotable",
             "the tenant's last full admin can be demoted",
             "accounts/services.py",
             "            _keep_a_full_admin(row, change=\"demote\")\n",
             "            pass\n",
             ("tests/api/test_users_api.py",)),
    Mutation("webhook-private-address-allowed",
             "a webhook endpoint on a private or loopback address is accepted",
             "audit/webhook_delivery.py",
             "    if tessera_settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:\n        return True\n",
             "    return True\n",
             ("tests/webhooks/test_deliveries.py",)),
    Mutation("jwt-bearer-taken-for-an-id-token",
             "a JWT bearer value at a resource view is validated as DOT does, as an ID token",
             "idp/validators.py",
             "        access tokens (``typ: at+jwt``): validated like every other access token.\"\"\"\n"
             "        return self.validate_bearer_token(token, scopes, request)\n",
             "        access tokens (``typ: at+jwt``): validated like every other access token.\"\"\"\n"
             "        return super().validate_jwt_bearer_token(token, scopes, request)\n",
             ("tests/api/test_clients_api.py", "tests/api/test_isolation_matrix.py")),
    # issue 15: rate limits, CORS, the client address, /metrics, outages
    Mutation("ratelimit-known-browser-not-exempt",
             "an account's own known browser spends its sign-in budget (strangers can shut the owner out)",
             "accounts/ratelimit.py",
             "    if account and not (exempt_known and known_browser(account, audit_context.current().device)):",
             "    if account:",
             ("tests/security/test_rate_limits.py",), database="sqlite"),
    Mutation("ratelimit-failed-client-auth-spends-client-budget",
             "a request that failed client authentication spends the named client's budget",
             "idp/views/ratelimit.py",
             "    count(failures if response.status_code == 401 else budget)",
             "    count(budget)",
             ("tests/security/test_rate_limits.py",), database="sqlite"),
    Mutation("ratelimit-every-refusal-audited",
             "every refused request is an audit event (a flood floods the trail)",
             "core/ratelimit.py",
             "storage.incr(per_budget, window) == 1",
             "storage.incr(per_budget, window) >= 1",
             ("tests/security/test_rate_limits.py",), database="sqlite"),
    Mutation("ratelimit-redis-outage-raises",
             "a Redis outage reaches the request instead of the in-memory fallback",
             "core/ratelimit.py",
             "            except (RedisError, StorageError, OSError) as exc:",
             "            except StorageError as exc:",
             ("tests/security/test_rate_limits.py",), database="sqlite"),
    Mutation("ratelimit-login-not-limited",
             "the password step spends no sign-in budget",
             "accounts/views.py",
             "        refusal = signin_refused(request, username)\n",
             "        refusal = None\n",
             ("tests/security/test_rate_limits.py",), database="sqlite"),
    Mutation("ratelimit-passkey-not-limited",
             "passkey assertions spend no sign-in budget",
             "accounts/passkeys.py",
             "        refusal = signin_refused(self.request, user.get_username() if user is not None else \"\")\n",
             "        refusal = None\n",
             ("tests/security/test_rate_limits.py",), database="sqlite"),
    Mutation("cors-on-every-path",
             "a registered origin gets preflights answered on pages too",
             "idp/cors.py",
             "    if not re.match(settings.CORS_URLS_REGEX, path):\n        return False",
             "    if False:\n        return False",
             ("tests/ops/test_cors.py",)),
    Mutation("client-ip-forwarded-for-believed-by-default",
             "X-Forwarded-For is believed with no trusted proxy configured",
             "core/client_ip.py",
             "    if count <= 0:\n        return remote",
             "    if count < 0:\n        return remote",
             ("tests/ops/test_client_ip.py",)),
    Mutation("client-ip-leftmost-forwarded-for",
             "the client-chosen leftmost X-Forwarded-For entry is taken for the address",
             "core/client_ip.py",
             "    return _address(entries[-count]) or remote",
             "    return _address(entries[0]) or remote",
             ("tests/ops/test_client_ip.py",)),
    Mutation("metrics-token-prefix-accepted",
             "a truncated or empty bearer token opens /metrics",
             "core/metrics.py",
             "hmac.compare_digest(value.strip().encode(), token.encode())",
             "token.encode().startswith(value.strip().encode())",
             ("tests/ops/test_metrics.py",)),
    Mutation("denylist-through-the-degrading-cache",
             "the JWT deny list reads through the degrading cache (a Redis outage reads 'not revoked')",
             "idp/denylist.py",
             "        return strict(caches[CACHE_ALIAS]).get(key) is not None",
             "        return caches[CACHE_ALIAS].get(key) is not None",
             ("tests/faults/test_degrading_cache.py",)),
    Mutation("outage-is-a-500",
             "a database outage answers the 500 page instead of a 503 with Retry-After",
             "core/outage.py",
             "    return any(isinstance(e, SERVICE_ERRORS) for e in _chain(exc))",
             "    return False",
             ("tests/faults/test_outage_answers.py",)),
    Mutation("commit-lost-through-pgbouncer-is-a-500",
             "a COMMIT answered out of protocol (pgbouncer, PostgreSQL going down) is a 500",
             "tenants/middleware.py",
             "    if isinstance(exc, InternalError) and isinstance(cause, psycopg.InternalError)"
             " and cause.sqlstate is None:",
             "    if isinstance(exc, InternalError) and isinstance(cause, psycopg.InternalError)"
             " and cause.sqlstate is not None:",
             ("tests/faults/test_connection_lost.py",)),
    Mutation("csrf-check-accepts-no-csrf-middleware",
             "the deploy check stands for CSRF protection without looking for it",
             "core/security.py",
             "        if isinstance(middleware, type) and issubclass(middleware, CsrfViewMiddleware):",
             "        if isinstance(middleware, type):",
             ("tests/unit/test_deploy_checks.py",)),
    # issue 16: a middleware stack per kind of endpoint (core.stacks)
    Mutation("back-channel-path-unanchored",
             "any path that begins like a back-channel endpoint runs without sessions and CSRF",
             "core/stacks.py",
             '    r"|/?\\.well-known/(?:openid-configuration|oauth-authorization-server))$"',
             '    r"|/?\\.well-known/(?:openid-configuration|oauth-authorization-server))"',
             ("tests/ops/test_middleware_stacks.py",), database="sqlite"),
    Mutation("page-middleware-skipped-on-pages",
             "the pages run without sessions, language, CSRF cookie and messages, the back channel with them",
             "core/stacks.py",
             "        if is_back_channel(request) is not back_channel:\n            return self.get_response(request)",
             "        if is_back_channel(request) is back_channel:\n            return self.get_response(request)",
             ("tests/ops/test_middleware_stacks.py",), database="sqlite"),
    Mutation("refresh-claim-unconditional",
             "the one-statement refresh claim no longer checks that the token is unused",
             "idp/sql.py",
             "         WHERE tenant_id = %(tenant)s AND id = %(id)s AND revoked IS NULL\n",
             "         WHERE tenant_id = %(tenant)s AND id = %(id)s\n",
             ("tests/security/test_concurrent_reuse.py",)),
    Mutation("resource-narrowing-unchecked",
             "a code exchange may ask for resources its authorization request was not granted",
             "idp/validators.py",
             "            if any(resource not in granted for resource in request.resource):",
             "            if False:",
             ("tests/security/test_resource_indicators.py",), database="sqlite"),
]


def _copy_tree(target: Path) -> None:
    """The working tree as it is (tracked and new files, not ignored ones), with the venv linked."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            destination = target / name.decode()
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    (target / ".venv").symlink_to(ROOT / ".venv")


def run(mutation: Mutation, work: Path) -> tuple[bool, float, str]:
    """(killed, seconds, last lines of the test output)."""
    tree = work / mutation.id
    _copy_tree(tree)
    path = tree / mutation.path
    text = path.read_text()
    if text.count(mutation.old) != 1:
        raise SystemExit(f"{mutation.id}: the code to mutate is not found exactly once in {mutation.path}; "
                         "update devtools/mutate.py")
    path.write_text(text.replace(mutation.old, mutation.new))
    env = {**os.environ, "CI": "true"}
    if mutation.database == "sqlite":
        env["TESSERA_TEST_DATABASE"] = "sqlite"
    started = time.monotonic()
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "--show-capture=no", *(["-m", "not postgres"] if mutation.database == "sqlite" else []),
         *mutation.tests],
        cwd=tree, env=env, capture_output=True, text=True, check=False)
    tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-3:])
    shutil.rmtree(tree, ignore_errors=True)
    return result.returncode != 0, time.monotonic() - started, tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated mutation ids")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args()
    chosen = MUTATIONS
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {m.id for m in MUTATIONS}
        if unknown:
            print(f"error: unknown mutation(s): {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        chosen = [m for m in MUTATIONS if m.id in wanted]
    if args.list:
        for m in chosen:
            print(f"{m.id:40} {m.database:8} {m.what}")
        return 0
    survivors = []
    with tempfile.TemporaryDirectory(prefix="tessera-mutate-") as tmp:
        for mutation in chosen:
            killed, seconds, tail = run(mutation, Path(tmp))
            print(f"{'killed  ' if killed else 'SURVIVED'} {mutation.id:40} {mutation.database:8} {seconds:5.1f}s "
                  f" {mutation.what}", flush=True)
            if not killed:
                survivors.append(mutation)
                print("    " + tail.replace("\n", "\n    "), flush=True)
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} mutations killed"
          + (f"; survivors: {', '.join(m.id for m in survivors)}" if survivors else ""))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
