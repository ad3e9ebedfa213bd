"""Options shared by create_client and update_client."""

from __future__ import annotations

from idp.models import ADMIN_SCOPES, AccessTokenFormat, GrantType, SigningAlgorithm


def add_settings_arguments(parser, *, updating: bool) -> None:
    """The client settings an operator chooses; when updating, each is optional and a list
    option given replaces the whole list."""
    replaces = " (replaces the list)" if updating else ""
    parser.add_argument("--grant", action="append", required=not updating, choices=GrantType.values,
                        help=f"A grant type it may use; repeat for several{replaces}.")
    parser.add_argument("--redirect-uri", action="append", help=f"Exact redirect URI; repeat{replaces}.")
    parser.add_argument("--post-logout-redirect-uri", action="append",
                        help=f"Where RP-initiated logout may return to; repeat{replaces}.")
    parser.add_argument("--web-origin", action="append",
                        help=f"Browser origin (scheme://host[:port]) its pages call the token endpoint from{replaces}.")
    parser.add_argument("--algorithm", choices=SigningAlgorithm.values, default=None if updating else "RS256",
                        help="ID token signing algorithm.")
    parser.add_argument("--access-token-format", choices=AccessTokenFormat.values,
                        default=None if updating else "opaque",
                        help="opaque (introspect to validate) or jwt (RFC 9068, validated locally).")
    parser.add_argument("--admin-scope", action="append", choices=sorted(ADMIN_SCOPES),
                        help=f"An admin API scope it may request (admin:read, admin:write); repeat{replaces}.")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--native", dest="application_type", action="store_const", const="native",
                      help="A native app (CLI, desktop, mobile): its loopback redirect URIs match on any port "
                           "(RFC 8252 §7.3).")
    kind.add_argument("--web", dest="application_type", action="store_const", const="web",
                      help="A web app: redirect URIs match exactly (the default).")
    party = parser.add_mutually_exclusive_group()
    party.add_argument("--first-party", dest="first_party", action="store_const", const=True,
                       help="Skip the consent page.")
    if updating:
        party.add_argument("--third-party", dest="first_party", action="store_const", const=False,
                           help="Ask for consent again.")
