"""The oauthlib server: DOT's OpenID server with PKCE restricted to S256."""

from __future__ import annotations

from oauthlib.oauth2.rfc6749.grant_types.authorization_code import code_challenge_method_s256
from oauthlib.openid import Server

S256_ONLY = {"S256": code_challenge_method_s256}


class TesseraServer(Server):
    """oauthlib's OpenID Connect server that refuses the PKCE "plain" method up front.

    Without this, "plain" (or no method, which RFC 7636 §4.3 defaults to "plain") would only
    be refused after the user had signed in and consented.
    """

    def __init__(self, request_validator, *args, **kwargs) -> None:
        super().__init__(request_validator, *args, **kwargs)
        for grant in (self.auth_grant, self.openid_connect_auth.proxy_target):
            grant._code_challenge_methods = S256_ONLY
        # No device flow yet: answer unsupported_grant_type, not a half-configured grant.
        self.grant_types.pop("urn:ietf:params:oauth:grant-type:device_code", None)
