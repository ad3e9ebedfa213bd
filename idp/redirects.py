"""Redirect URI rules: exact match, https (or loopback http for native apps, RFC 8252)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

LOOPBACK_HOSTS = {"127.0.0.1", "[::1]", "::1"}


def is_loopback(uri: str) -> bool:
    """True for http://127.0.0.1[:port]/... and http://[::1][:port]/... (RFC 8252 §7.3)."""
    parts = urlsplit(uri)
    if parts.scheme != "http" or parts.hostname is None:
        return False
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def validate_redirect_uri(uri: str) -> None:
    """Refuse wildcards, fragments and plain http except to a loopback IP or localhost."""
    parts = urlsplit(uri)
    if "#" in uri:
        raise ValidationError(f"{uri}: a redirect URI may not have a fragment (RFC 6749 §3.1.2).")
    if "*" in uri:
        raise ValidationError(f"{uri}: wildcards are not allowed; register exact URIs.")
    if parts.fragment:
        raise ValidationError(f"{uri}: a redirect URI may not have a fragment (RFC 6749 §3.1.2).")
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and (is_loopback(uri) or parts.hostname == "localhost"):
        return
    if parts.scheme not in {"http", "https", ""} and "." in parts.scheme and parts.path:
        return  # private-use scheme of a native app, e.g. com.example.app:/callback (RFC 8252 §7.1)
    raise ValidationError(f"{uri}: use https, a loopback http URI, or a reverse-DNS app scheme.")


def _well_formed_loopback(uri: str) -> bool:
    """A loopback URI with no userinfo, no fragment and a valid port, if any."""
    if "#" in uri or "@" in uri or not is_loopback(uri):
        return False
    try:
        _ = urlsplit(uri).port
    except ValueError:
        return False
    return True


def redirect_uri_matches(registered: list[str], presented: str, *, any_loopback_port: bool = False) -> bool:
    """Exact string match; with ``any_loopback_port`` (native apps only), a loopback URI
    matches a registered one on any port (RFC 8252 §7.3)."""
    if presented in registered:
        return True
    if not any_loopback_port or not _well_formed_loopback(presented):
        return False
    p = urlsplit(presented)
    for uri in registered:
        r = urlsplit(uri)
        if is_loopback(uri) and (r.scheme, r.hostname, r.path, r.query) == (
            p.scheme, p.hostname, p.path, p.query
        ):
            return True
    return False


def valid_resource_indicator(uri: object) -> bool:
    """RFC 8707 §2: an absolute URI with scheme and host, no fragment, no userinfo, no
    control characters. Never raises (DOT's own check lets urlsplit's ValueError escape)."""
    from oauth2_provider.oauth2_validators import is_valid_resource_uri

    if not isinstance(uri, str) or not uri or len(uri) > 2048 or any(ord(c) < 0x21 for c in uri):
        return False
    try:
        return bool(is_valid_resource_uri(uri))
    except ValueError:
        return False


def validate_web_origin(origin: str) -> None:
    """A browser origin a client's pages call the token endpoint from: scheme://host[:port],
    https (or http to a loopback address or localhost), nothing after the port."""
    parts = urlsplit(origin)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if (not parts.hostname or parts.path or parts.query or parts.fragment or "@" in parts.netloc
            or not port_ok or origin.endswith("/")):
        raise ValidationError(f"{origin}: a web origin is scheme://host[:port], with nothing after it.")
    if parts.scheme == "https" or (parts.scheme == "http" and (is_loopback(origin) or parts.hostname == "localhost")):
        return
    raise ValidationError(f"{origin}: use https, or http only for a loopback address or localhost.")
