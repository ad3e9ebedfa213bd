"""What Tessera carries through one oauthlib request, as one typed object.

oauthlib hands the same ``Request`` to every validator method; rather than loose attributes
read back with ``getattr(request, "...", None)``, everything of ours lives in
``request.tessera`` (``flow_state(request)``). The authorization view passes it in through
oauthlib's ``credentials`` (which oauthlib copies onto the request).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accounts.authn import Authentication
    from idp.models import Grant, RefreshToken


@dataclass
class FlowState:
    # Authorization request: the session's authentication, and whether the request named
    # its redirect_uri (then the token request must repeat it, RFC 6749 §4.1.3).
    authn: Authentication | None = None
    redirect_uri_provided: bool = True
    # Token request: the code presented (looked up once) and, once validated, its grant.
    code_lookup: tuple[str, Grant | None] | None = None
    grant: Grant | None = None
    # Token request: the refresh token presented, once validated.
    refresh_token: RefreshToken | None = None

    @property
    def source(self) -> Grant | RefreshToken | None:
        """Where the tokens of this request come from: the code's grant or the refresh token."""
        return self.grant or self.refresh_token


def flow_state(request: Any) -> FlowState:
    """The request's FlowState, created on first use."""
    state = getattr(request, "tessera", None)
    if not isinstance(state, FlowState):
        state = FlowState()
        request.tessera = state
    return state
