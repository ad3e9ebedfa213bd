"""The oauthlib server: DOT's OpenID server with only the grants Tessera offers.

- PKCE restricted to S256: without this, "plain" (or no method, which RFC 7636 §4.3
  defaults to "plain") would only be refused after the user had signed in and consented.
- No password grant (RFC 9700 §2.4: MUST NOT be used): it would be a password oracle beside
  the login page, without CSRF, cookie or lockout. No device flow yet. Both answer
  ``unsupported_grant_type``.
- The code or refresh token is claimed after every check of the token request has passed
  and before any token is saved (the validator's ``claim_presented_credential``).
"""

from __future__ import annotations

from typing import Any

from oauthlib.oauth2.rfc6749.grant_types.authorization_code import code_challenge_method_s256
from oauthlib.openid import Server

S256_ONLY = {"S256": code_challenge_method_s256}
NOT_OFFERED = ("password", "urn:ietf:params:oauth:grant-type:device_code")


class TesseraServer(Server):
    """oauthlib's OpenID Connect server with Tessera's grants only."""

    def __init__(self, request_validator, *args, **kwargs) -> None:
        super().__init__(request_validator, *args, **kwargs)
        for grant in (self.auth_grant, self.openid_connect_auth.proxy_target):
            grant._code_challenge_methods = S256_ONLY
        for grant_type in NOT_OFFERED:
            self.grant_types.pop(grant_type, None)
        # The grants that exchange a code or refresh token (an OpenID grant validates through
        # the plain OAuth grant it proxies to, so the hook goes there).
        for grant in (self.auth_grant, self.openid_connect_auth, self.refresh_grant):
            target: Any = getattr(grant, "proxy_target", grant)
            target.custom_validators.post_token.append(request_validator.claim_presented_credential)
